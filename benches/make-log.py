#!/usr/bin/env python3
"""Writes a deterministic web-server access log (Apache combined format) for the predictor benchmarks.

Usage: make-log.py LINES > access.log. Same output on every machine (fixed seed, no clock), so figures from it
are reproducible; it stands for the log-like inputs (repeated structure, slowly changing fields) where the match
and n-gram models should help most.
"""
import random
import sys

lines = int(sys.argv[1]) if len(sys.argv) > 1 else 400
rng = random.Random(20261127)
clients = [f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(23)]
pages = ["/", "/index.html", "/about", "/blog/", "/blog/2026/11/neural-compression", "/blog/2026/10/arithmetic-coding",
         "/static/css/site.css", "/static/js/app.js", "/static/img/logo.png", "/favicon.ico", "/robots.txt",
         "/api/v1/items", "/api/v1/items/42", "/api/v1/search?q=llama", "/login", "/feed.xml"]
agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
          "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
          "curl/8.5.0", "python-requests/2.32.3"]
t = 1_764_201_600  # 2025-11-27 00:00:00 UTC
months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
out = []
for _ in range(lines):
    t += rng.choice([0, 0, 1, 1, 2, 3, 5, 8, 13])
    day, rem = divmod(t - 1_764_201_600, 86400)
    hh, rem = divmod(rem, 3600)
    mm, ss = divmod(rem, 60)
    page = rng.choice(pages)
    method = "POST" if page == "/login" and rng.random() < 0.5 else "GET"
    status = rng.choices([200, 304, 404, 301, 500], [80, 10, 6, 3, 1])[0]
    size = 0 if status == 304 else rng.randint(120, 48000)
    ref = rng.choice(["-", "https://example.org/", "https://example.org/blog/", "https://www.google.com/"])
    out.append(f'{rng.choice(clients)} - - [{27 + day:02d}/{months[10]}/2025:{hh:02d}:{mm:02d}:{ss:02d} +0000] '
               f'"{method} {page} HTTP/1.1" {status} {size} "{ref}" "{rng.choice(agents)}"\n')
sys.stdout.write("".join(out))
