"""URL slugs."""
import re
import unicodedata


def slugify(text, sep="-", max_length=None):
    if not sep:
        raise ValueError("sep must not be empty")
    plain = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in plain if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", sep, plain.lower()).strip(sep)
    if max_length is not None:
        slug = slug[:max_length]
        while slug.endswith(sep):
            slug = slug[: -len(sep)]
    return slug


def unique_slug(text, existing, sep="-"):
    slug = slugify(text, sep)
    if slug not in existing:
        return slug
    n = 2
    while f"{slug}{sep}{n}" in existing:
        n += 1
    return f"{slug}{sep}{n}"
