"""TEST-ONLY stand-in for Apache Solr: the HTTP subset CKAN 2.12 uses, documents kept in memory.

No Solr can be installed on the development machines, and CKAN cannot create a dataset without one
(it indexes inside the create transaction). This server answers what CKAN sends through pysolr:
  /solr/<core>/update    JSON add (a list of docs), XML <delete><id|query>, <commit/>
  /solr/<core>/select    q / fq in a Lucene subset, dismax (qf), sort, start/rows, fl, facet.field
  /solr/<core>/schema    the schema name CKAN checks (ckan-2.12)
  /solr/<core>/admin/ping
Relevance is not Solr's (every hit scores 1.0); exact filters, facets and sorting are. Production
uses real Solr 9 (see README.md). Run: python dev/solr_standin.py --port 8983 --data-file F
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import logging
import os
import re
import threading
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

log = logging.getLogger("solr-standin")
SCHEMA_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<schema name="ckan-2.12" version="1.6"></schema>\n'
TOKEN_RE = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|\[[^\]]*\]|\{[^}]*\}|(?:[^\s()"\\\[\]{}]|\\.)+)')
Doc = dict[str, Any]


class QueryError(ValueError):
    pass


# --- query language: a Lucene subset, parsed into a predicate over a document -----------------------


def _values(doc: Doc, field: str) -> list[str]:
    if field == "text":  # Solr's catch-all copyField
        return [str(v) for vals in doc.values() for v in (vals if isinstance(vals, list) else [vals])]
    value = doc.get(field)
    if value is None:
        return []
    return [str(v) for v in (value if isinstance(value, list) else [value])]


# CKAN's Solr schema analyses these as `text` (lower case, ASCII folding); others are exact strings.
TEXT_FIELDS = {"text", "title", "notes", "res_name", "res_description", "urls"}


def fold(text: str) -> str:
    """Solr's ASCIIFoldingFilter for Vietnamese: "Dân số" and "dan so" are one term (đ is a letter of
    its own in Unicode: folded by hand)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _term_matches(doc: Doc, field: str, term: str, phrase: bool) -> bool:
    values = _values(doc, field)
    if term == "*":
        return bool(values)
    analysed = field in TEXT_FIELDS or field.startswith(("title_", "notes_", "extras_"))
    term_l = fold(term.lower()) if analysed else term.lower()
    for value in values:
        v = fold(value.lower()) if analysed else value.lower()
        if v == term_l or (any(c in term for c in "*?") and fnmatch.fnmatchcase(v, term_l)):
            return True
        words = re.findall(r"\w+", v)
        if phrase and term_l in v:
            return True
        if not phrase and (term_l in words or any(fnmatch.fnmatchcase(w, term_l) for w in words)):
            return True
    return False


def _range_matches(doc: Doc, field: str, spec: str) -> bool:
    low, _, high = spec[1:-1].partition(" TO ")
    low, high = low.strip(), high.strip()
    return any((low == "*" or value >= low) and (high == "*" or value <= high) for value in _values(doc, field))


class _Parser:
    """Recursive descent: or_expr := and_expr (OR and_expr)*; and_expr := unary ((AND)? unary)*."""

    def __init__(self, text: str, default_field: str, default_and: bool) -> None:
        self.tokens = [t for t in TOKEN_RE.findall(text) if t.strip()]
        self.pos = 0
        self.default_field = default_field
        self.default_and = default_and

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise QueryError("unexpected end of query")
        self.pos += 1
        return tok

    def parse(self) -> Any:
        pred = self.or_expr(self.default_field)
        if self.peek() is not None:
            raise QueryError(f"unexpected {self.peek()!r}")
        return pred

    def or_expr(self, field: str) -> Any:
        parts = [self.and_expr(field)]
        while self.peek() in ("OR", "||"):
            self.take()
            parts.append(self.and_expr(field))
        return parts[0] if len(parts) == 1 else (lambda d, ps=parts: any(p(d) for p in ps))

    def and_expr(self, field: str) -> Any:
        required, optional = [], []
        while self.peek() not in (None, ")", "OR", "||"):
            explicit_and = False
            if self.peek() in ("AND", "&&"):
                self.take()
                explicit_and = True
            pred = self.unary(field)
            (required if explicit_and or self.default_and or getattr(pred, "required", False) else optional).append(
                pred
            )
        if not required and not optional:
            raise QueryError("empty clause")

        def match(d: Doc) -> bool:
            return all(p(d) for p in required) and (not optional or any(p(d) for p in optional) or bool(required))

        return match

    def unary(self, field: str) -> Any:
        tok = self.peek()
        if tok == "NOT":
            self.take()
            inner = self.unary(field)
            return lambda d: not inner(d)
        if tok and tok[0] in "+-":
            if len(tok) > 1:
                self.tokens[self.pos] = tok[1:]
            else:
                self.take()
            inner = self.unary(field)
            if tok[0] == "-":
                return lambda d: not inner(d)

            def req(d: Doc) -> bool:
                return inner(d)

            req.required = True  # type: ignore[attr-defined]
            return req
        return self.atom(field)

    def atom(self, field: str) -> Any:
        tok = self.take()
        if tok == "(":
            inner = self.or_expr(field)
            if self.take() != ")":
                raise QueryError("missing )")
            return inner
        m = None if tok[0] in '"[{' else re.match(r"^((?:[^:\\]|\\.)+):(.*)$", tok)
        if m:
            name, rest = m.group(1), m.group(2)
            if rest == "":  # field:(...) or field:"phrase" / field:[a TO b] as the next token
                return self.atom(name)
            if rest == "*" and name == "*":
                return lambda d: True
            return self._leaf(name, rest)
        return self._leaf(field, tok)

    def _leaf(self, field: str, value: str) -> Any:
        if value[0] in "[{":
            return lambda d: _range_matches(d, field, value)
        phrase = value.startswith('"')
        term = value[1:-1] if phrase else value
        term = re.sub(r"\\(.)", r"\1", term)
        return lambda d: _term_matches(d, field, term, phrase)


def compile_query(text: str, default_field: str = "text", default_and: bool = True) -> Any:
    text = (text or "").strip()
    if text in ("", "*:*", "*"):
        return lambda d: True
    return _Parser(text, default_field, default_and).parse()


def dismax(text: str, qf: str) -> Any:
    fields = [f.split("^")[0] for f in (qf or "text").split()]
    terms = [t.strip('"') for t in text.split() if t.strip('"')]
    if not terms or text.strip() in ("*:*", "*"):
        return lambda d: True
    return lambda d: all(any(_term_matches(d, f, t, False) for f in fields) for t in terms)


# --- the index --------------------------------------------------------------------------------------


class Index:
    def __init__(self, data_file: Path | None) -> None:
        self.lock = threading.Lock()
        self.data_file = data_file
        self.docs: dict[str, Doc] = {}
        if data_file and data_file.exists():
            self.docs = json.loads(data_file.read_text(encoding="utf-8"))

    def save(self) -> None:
        if self.data_file:
            tmp = self.data_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.docs), encoding="utf-8")
            os.replace(tmp, self.data_file)

    def add(self, docs: list[Doc]) -> None:
        with self.lock:
            for doc in docs:
                self.docs[str(doc.get("index_id") or doc["id"])] = doc
            self.save()

    def delete(self, ids: list[str], queries: list[str]) -> None:
        with self.lock:
            for key in ids:
                self.docs.pop(key, None)
                for k, d in list(self.docs.items()):
                    if d.get("id") == key:
                        del self.docs[k]
            for q in queries:
                pred = compile_query(q)
                for k, d in list(self.docs.items()):
                    if pred(d):
                        del self.docs[k]
            self.save()

    def select(self, params: dict[str, list[str]]) -> dict[str, Any]:
        one = {k: v[-1] for k, v in params.items()}
        q = one.get("q", "*:*")
        default_and = one.get("q.op", "AND").upper() == "AND"
        if one.get("defType") in ("dismax", "edismax") and ":" not in q:
            main = dismax(q, one.get("qf", "text"))
        else:
            main = compile_query(q, one.get("df", "text"), default_and)
        filters = [compile_query(fq, "text", True) for fq in params.get("fq", []) if fq.strip()]
        with self.lock:
            hits = [d for d in self.docs.values() if main(d) and all(f(d) for f in filters)]
        for clause in reversed([c.strip() for c in one.get("sort", "").split(",") if c.strip()]):
            name, _, direction = clause.partition(" ")
            if name == "score":
                continue
            present = [d for d in hits if d.get(name) is not None]
            missing = [d for d in hits if d.get(name) is None]
            present.sort(key=lambda d, n=name: str(d[n]).lower(), reverse=direction.strip().lower() == "desc")
            hits = present + missing
        start, rows = int(one.get("start", 0)), int(one.get("rows", 10))
        fl = [f for f in re.split(r"[\s,]+", one.get("fl", "*")) if f]
        page = [self._project(d, fl) for d in hits[start : start + max(rows, 0)]]
        result: dict[str, Any] = {
            "responseHeader": {"status": 0, "QTime": 0, "params": one},
            "response": {"numFound": len(hits), "start": start, "docs": page},
        }
        if one.get("facet", "false") == "true":
            result["facet_counts"] = {
                "facet_queries": {},
                "facet_fields": {f: self._facet(hits, f, one) for f in params.get("facet.field", [])},
                "facet_ranges": {},
                "facet_intervals": {},
                "facet_heatmaps": {},
            }
        return result

    @staticmethod
    def _project(doc: Doc, fl: list[str]) -> Doc:
        out = dict(doc) if "*" in fl else {k: doc[k] for k in fl if k in doc}
        if "score" in fl:
            out["score"] = 1.0
        return out

    @staticmethod
    def _facet(hits: list[Doc], field: str, params: dict[str, str]) -> list[Any]:
        counts: Counter[str] = Counter()
        for d in hits:
            for v in set(_values(d, field)):
                counts[v] += 1
        mincount = int(params.get(f"f.{field}.facet.mincount", params.get("facet.mincount", 1)))
        limit = int(params.get(f"f.{field}.facet.limit", params.get("facet.limit", 100)))
        items = sorted((kv for kv in counts.items() if kv[1] >= mincount), key=lambda kv: (-kv[1], kv[0]))
        if limit >= 0:
            items = items[:limit]
        return [x for kv in items for x in kv]


# --- HTTP ---------------------------------------------------------------------------------------------


def make_handler(index: Index) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s " + fmt, self.address_string(), *args)

        def _send(self, status: int, body: str, ctype: str = "application/json") -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", f"{ctype}; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, msg: str) -> None:
            self._send(status, json.dumps({"responseHeader": {"status": 400}, "error": {"msg": msg, "code": status}}))

        def _route(self, body: bytes) -> None:
            url = urlparse(self.path)
            params = parse_qs(url.query, keep_blank_values=True)
            ctype = self.headers.get("Content-Type", "")
            if body and "x-www-form-urlencoded" in ctype:
                for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                    params.setdefault(k, []).extend(v)
                body = b""
            parts = [p for p in url.path.split("/") if p]
            action = "/".join(parts[2:]) if len(parts) >= 2 and parts[0] == "solr" else "/".join(parts)
            try:
                if action == "select":
                    self._send(200, json.dumps(index.select(params)))
                elif action == "update":
                    self._update(body)
                    self._send(200, json.dumps({"responseHeader": {"status": 0, "QTime": 0}}))
                elif action in ("schema", "admin/file"):
                    self._send(200, SCHEMA_XML, "application/xml")
                elif action == "admin/ping":
                    self._send(200, json.dumps({"responseHeader": {"status": 0}, "status": "OK"}))
                else:
                    self._error(404, f"not served by the test stand-in: {url.path}")
            except (QueryError, ValueError, KeyError, ET.ParseError) as exc:
                self._error(400, f"{type(exc).__name__}: {exc}")

        def _update(self, body: bytes) -> None:
            text = body.decode("utf-8").strip()
            if not text:
                return
            if text[0] in "[{":
                payload = json.loads(text)
                index.add(payload if isinstance(payload, list) else [payload])
                return
            root = ET.fromstring(text)  # noqa: S314 - loopback-only test server, CKAN is the only client
            if root.tag == "delete":
                index.delete([e.text or "" for e in root.iter("id")], [e.text or "" for e in root.iter("query")])
            elif root.tag == "add":
                raise ValueError("XML <add> is not supported by the stand-in; pysolr sends JSON without boosts")

        def do_GET(self) -> None:
            self._route(b"")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self._route(self.rfile.read(length) if length else b"")

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("SOLR_PORT", "8983")))
    ap.add_argument("--data-file", type=Path, help="keep the index here across restarts")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    server = ThreadingHTTPServer((args.host, args.port), make_handler(Index(args.data_file)))
    log.warning("TEST-ONLY Solr stand-in on http://%s:%s/solr/ (production uses Solr 9)", args.host, args.port)
    server.serve_forever()


if __name__ == "__main__":
    main()
