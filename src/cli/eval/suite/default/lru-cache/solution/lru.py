"""An LRU cache and a caching decorator."""
import functools
from collections import OrderedDict


class LRUCache:
    def __init__(self, capacity):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._data = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key, default=None):
        if key in self._data:
            self.hits += 1
            self._data.move_to_end(key)
            return self._data[key]
        self.misses += 1
        return default

    def put(self, key, value):
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self):
        return len(self._data)

    def __contains__(self, key):
        return key in self._data

    def keys(self):
        return list(self._data)


def cached(capacity):
    def wrap(fn):
        cache = LRUCache(capacity)
        missing = object()

        @functools.wraps(fn)
        def inner(*args):
            value = cache.get(args, missing)
            if value is missing:
                value = fn(*args)
                cache.put(args, value)
            return value

        inner.cache = cache
        return inner

    return wrap
