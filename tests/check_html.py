#!/usr/bin/python3
"""Checks that an HTML file is well formed and self-contained: a doctype,
one html/head/body, every element closed in order (void elements and SVG's
self-closing tags aside), no script, nothing loaded from the network, every
embedded image a base64 PNG. Prints what is wrong and exits 1, or prints
"ok <elements>" and exits 0. Standard library only.
Usage: check_html.py FILE"""
import base64
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.counts, self.doctype = [], [], {}, False

    def handle_decl(self, decl):
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def count(self, tag):
        self.counts[tag] = self.counts.get(tag, 0) + 1

    def check_attrs(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("data:"):
                self.errors.append(f"line {self.getpos()[0]}: <{tag} {name}=...> loads {value[:60]}")
            if tag == "img" and name == "src" and value:
                head = "data:image/png;base64,"
                if not value.startswith(head):
                    self.errors.append(f"line {self.getpos()[0]}: image is not a PNG data URI")
                elif not base64.b64decode(value[len(head):], validate=True).startswith(b"\x89PNG\r\n\x1a\n"):
                    self.errors.append(f"line {self.getpos()[0]}: image data is not a PNG file")

    def handle_starttag(self, tag, attrs):
        # An SVG <title> is a tooltip, not the page's title.
        self.count("svg:" + tag if any(t == "svg" for t, _ in self.stack) else tag)
        if tag == "script":
            self.errors.append(f"line {self.getpos()[0]}: <script>")
        self.check_attrs(tag, attrs)
        if tag not in VOID:
            self.stack.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag, attrs):
        self.count(tag)
        self.check_attrs(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack:
            self.errors.append(f"line {self.getpos()[0]}: </{tag}> closes nothing")
            return
        open_tag, line = self.stack.pop()
        if open_tag != tag:
            self.errors.append(f"line {self.getpos()[0]}: </{tag}> closes <{open_tag}> of line {line}")


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    c = Checker()
    c.feed(text)
    c.close()
    errors = list(c.errors)
    if not c.doctype:
        errors.append("no <!DOCTYPE html>")
    for tag in ("html", "head", "body", "title"):
        if c.counts.get(tag, 0) != 1:
            errors.append(f"{c.counts.get(tag, 0)} <{tag}> elements")
    errors += [f"<{t}> of line {l} never closed" for t, l in c.stack]
    if errors:
        print("\n".join(errors[:20]))
        sys.exit(1)
    print("ok", sum(c.counts.values()))


main()
