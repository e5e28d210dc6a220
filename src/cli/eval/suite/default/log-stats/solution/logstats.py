"""Summarises web server access logs in the Common Log Format."""
import json
import re
import sys
from collections import Counter

LINE = re.compile(
    r'^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\d+|-)$'
)


def parse_line(line):
    m = LINE.match(line.strip())
    if not m:
        return None
    ip, time, method, path, protocol, status, size = m.groups()
    return {
        "ip": ip,
        "time": time,
        "method": method,
        "path": path,
        "protocol": protocol,
        "status": int(status),
        "size": 0 if size == "-" else int(size),
    }


def summarize(lines):
    requests = malformed = total = 0
    status = Counter()
    paths = Counter()
    ips = set()
    for line in lines:
        if not line.strip():
            continue
        r = parse_line(line)
        if r is None:
            malformed += 1
            continue
        requests += 1
        total += r["size"]
        status[str(r["status"])] += 1
        paths[r["path"]] += 1
        ips.add(r["ip"])
    top = sorted(paths.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    return {
        "requests": requests,
        "malformed": malformed,
        "bytes": total,
        "status": dict(status),
        "top_paths": [[p, n] for p, n in top],
        "unique_ips": len(ips),
    }


if __name__ == "__main__":
    if len(sys.argv) > 1:
        with open(sys.argv[1], encoding="utf-8") as f:
            summary = summarize(f)
    else:
        summary = summarize(sys.stdin)
    print(json.dumps(summary, sort_keys=True))
