#!/usr/bin/env python3
"""Render rustdoc JSON (format 57) as a sorted, line-per-item listing of a crate's public API.

    python3 scripts/public-api.py target/doc/bearer_guard.json > public-api.txt

Every public item appears once, at its shortest public path (ties: alphabetical); other paths
to it are `pub use` lines. Members follow their owner: fields, variants, inherent methods and
constants, trait impls (auto-trait and foreign blanket impls left out, except `!Send`/`!Sync`).
Markers: `#[cfg(feature = ..)]` (from the item and the modules above it), `#[non_exhaustive]`,
`#[must_use]`, `#[deprecated]`. Standard library paths are shortened to their last segment.
"""

import json
import re
import sys

FEATURE = re.compile(r'name: "feature", value: Some\("([^"]+)"\)')
STD_CRATES = {"core", "alloc", "std"}
PRELUDE = set("Option Result String Vec Box Send Sync Sized Clone Copy Default Eq PartialEq Ord PartialOrd Hash "
              "Iterator IntoIterator Into From TryFrom AsRef Fn FnMut FnOnce Drop Unpin ToString Future".split())
SELF_REF = re.compile(r"^&('\w+ )?(mut )?Self$")


class Api:
    def __init__(self, doc):
        self.index, self.paths = doc["index"], doc["paths"]
        self.crate = self.index[str(doc["root"])]["name"]
        self.public = {}  # id -> [(path, features)] for every public path of a local item
        self.lines = set()  # (sort key, line)
        self._walk(doc["root"], self.crate, frozenset(), set())

    # --- which items are public, and where ---------------------------------------------------

    def _walk(self, mod_id, prefix, feats, seen):
        if mod_id in seen:
            return
        seen.add(mod_id)
        for item_id in self.index[str(mod_id)]["inner"]["module"]["items"]:
            item = self.index[str(item_id)]
            kind, inner = next(iter(item["inner"].items()))
            f = feats | self.features(item)
            if kind == "use":
                target = inner["id"]
                if inner["is_glob"]:
                    if target is not None and str(target) in self.index:
                        self._walk(target, prefix, f, seen)
                    continue
                path = f"{prefix}::{inner['name']}"
                if target is None or str(target) not in self.index:
                    self.add(path, 0, f"pub use {path} = {self.extern_path(target, inner['source'])}", f)
                    continue
                self.public.setdefault(target, []).append((path, f))
                if "module" in self.index[str(target)]["inner"]:
                    self._walk(target, path, f, seen)
            else:
                path = f"{self.crate}::{item['name']}" if kind == "macro" else f"{prefix}::{item['name']}"
                self.public.setdefault(item_id, []).append((path, f))
                if kind == "module":
                    self._walk(item_id, path, f, seen)

    def canonical(self, item_id):
        return min(self.public[item_id], key=lambda p: (len(p[0]), p[0]))

    def extern_path(self, item_id, written):
        if item_id is not None and item_id in self.public:
            return self.canonical(item_id)[0]
        entry = self.paths.get(str(item_id)) if item_id is not None else None
        if entry is None:
            return written
        segments = entry["path"]
        if segments[0] in STD_CRATES:  # `Option`, `time::Duration`, `io::Error`
            return segments[-1] if segments[-1] in PRELUDE or len(segments) < 3 else f"{segments[1]}::{segments[-1]}"
        return "::".join(segments)

    # --- markers ------------------------------------------------------------------------------

    @staticmethod
    def features(item):
        return frozenset(m for a in item["attrs"] if isinstance(a, dict) for m in FEATURE.findall(a.get("other", "")))

    @staticmethod
    def markers(item, feats):
        out = [f'#[cfg(feature = "{f}")]' for f in sorted(feats)]
        for a in item["attrs"]:
            if a == "non_exhaustive":
                out.append("#[non_exhaustive]")
            elif isinstance(a, dict) and "must_use" in a:
                reason = a["must_use"]["reason"]
                out.append(f"#[must_use = {json.dumps(reason)}]" if reason else "#[must_use]")
        if item.get("deprecation"):
            out.append("#[deprecated]")
        return " ".join(out + [""])

    def add(self, key, rank, line, feats=frozenset(), item=None, after=None):
        """One line, sorted under its owner `key`: the item, fields/variants, members, impls."""
        sort = (key, rank, after or line, 1 if after else 0, line)
        self.lines.add((sort, self.markers(item or {"attrs": []}, feats) + line))

    # --- types --------------------------------------------------------------------------------

    def ty(self, t):
        if t is None:
            return "()"
        kind, v = next(iter(t.items()))
        if kind == "resolved_path":
            return self.path(v)
        if kind in ("generic", "primitive"):
            return v
        if kind == "tuple":
            return "(" + ", ".join(self.ty(x) for x in v) + (",)" if len(v) == 1 else ")")
        if kind == "slice":
            return f"[{self.ty(v)}]"
        if kind == "array":
            return f"[{self.ty(v['type'])}; {v['len']}]"
        if kind == "borrowed_ref":
            life = f"{v['lifetime']} " if v["lifetime"] else ""
            return f"&{life}{'mut ' if v['is_mutable'] else ''}{self.ty(v['type'])}"
        if kind == "raw_pointer":
            return f"*{'mut' if v['is_mutable'] else 'const'} {self.ty(v['type'])}"
        if kind == "dyn_trait":
            parts = [self.poly(p) for p in v["traits"]] + ([v["lifetime"]] if v["lifetime"] else [])
            return "dyn " + " + ".join(parts)
        if kind == "impl_trait":
            return "impl " + self.bounds(v)
        if kind == "qualified_path":
            base = f"<{self.ty(v['self_type'])} as {self.path(v['trait'])}>" if v["trait"] else self.ty(v["self_type"])
            return f"{base}::{v['name']}{self.args(v['args'])}"
        if kind == "function_pointer":
            return self.fn_ptr(v)
        if kind == "infer":
            return "_"
        return f"<{kind}>"

    def path(self, p):
        return self.extern_path(p["id"], p["path"]) + self.args(p["args"])

    def args(self, a):
        if not a:
            return ""
        if "parenthesized" in a:
            v = a["parenthesized"]
            out = f" -> {self.ty(v['output'])}" if v["output"] else ""
            return "(" + ", ".join(self.ty(x) for x in v["inputs"]) + ")" + out
        if "angle_bracketed" not in a:
            return "(..)"
        v = a["angle_bracketed"]
        parts = [self.generic_arg(x) for x in v["args"]]
        for c in v["constraints"]:
            b = c["binding"]
            if "equality" in b:
                term = b["equality"]
                rhs = self.ty(term["type"]) if "type" in term else term["constant"]["expr"]
                parts.append(f"{c['name']}{self.args(c['args'])} = {rhs}")
            else:
                parts.append(f"{c['name']}{self.args(c['args'])}: {self.bounds(b['constraint'])}")
        return f"<{', '.join(parts)}>" if parts else ""

    def generic_arg(self, x):
        kind, v = next(iter(x.items())) if isinstance(x, dict) else (x, None)
        return {"lifetime": lambda: v, "type": lambda: self.ty(v), "const": lambda: v["expr"]}.get(kind, lambda: "_")()

    def poly(self, p):
        hr = f"for<{', '.join(g['name'] for g in p['generic_params'])}> " if p["generic_params"] else ""
        return hr + self.path(p["trait"])

    def bounds(self, bs):
        out = []
        for b in bs:
            if "trait_bound" in b:
                tb = b["trait_bound"]
                mod = {"maybe": "?", "maybe_const": "~const "}.get(tb["modifier"], "")
                out.append(mod + self.poly(tb))
            elif "outlives" in b:
                out.append(b["outlives"])
            else:
                out.append("use<..>")
        return " + ".join(out)

    def fn_ptr(self, v):
        inputs = ", ".join(self.ty(t) for _, t in v["sig"]["inputs"])
        out = f" -> {self.ty(v['sig']['output'])}" if v["sig"]["output"] else ""
        return f"fn({inputs}){out}"

    # --- generics -----------------------------------------------------------------------------

    def generics(self, g):
        params = []
        for p in g["params"]:
            kind, v = next(iter(p["kind"].items()))
            if kind == "lifetime":
                params.append(p["name"] + (": " + " + ".join(v["outlives"]) if v["outlives"] else ""))
            elif kind == "type" and not v["is_synthetic"]:
                params.append(p["name"] + (": " + self.bounds(v["bounds"]) if v["bounds"] else "")
                              + (f" = {self.ty(v['default'])}" if v["default"] else ""))
            elif kind == "const":
                params.append(f"const {p['name']}: {self.ty(v['type'])}")
        return f"<{', '.join(params)}>" if params else ""

    def where(self, *gs):
        preds = []
        for g in gs:
            for w in g["where_predicates"]:
                kind, v = next(iter(w.items()))
                if kind == "bound_predicate":
                    preds.append(f"{self.ty(v['type'])}: {self.bounds(v['bounds'])}")
                elif kind == "lifetime_predicate":
                    preds.append(f"{v['lifetime']}: {' + '.join(v['outlives'])}")
                else:
                    preds.append(f"{self.ty(v['lhs'])} = {self.ty(v['rhs'].get('type'))}")
        return " where " + ", ".join(preds) if preds else ""

    @staticmethod
    def bounds_as_where(g):
        """`impl<S: Clone>` as `where S: Clone`, for members rendered outside their impl block."""
        preds = [{"bound_predicate": {"type": {"generic": p["name"]}, "bounds": p["kind"]["type"]["bounds"]}}
                 for p in g["params"] if "type" in p["kind"] and p["kind"]["type"]["bounds"]]
        return {"params": [], "where_predicates": preds + g["where_predicates"]}

    def fn(self, name, f, outer=None):
        h = f["header"]
        quals = "".join(q for q, on in (("const ", h["is_const"]), ("async ", h["is_async"]), ("unsafe ", h["is_unsafe"])) if on)
        inputs = ", ".join(self.self_arg(n, t) for n, t in f["sig"]["inputs"])
        out = f" -> {self.ty(f['sig']['output'])}" if f["sig"]["output"] else ""
        gs = [outer, f["generics"]] if outer else [f["generics"]]
        return f"pub {quals}fn {name}{self.generics(f['generics'])}({inputs}){out}{self.where(*gs)}"

    def self_arg(self, name, t):
        if name == "self":
            s = self.ty(t)
            return "self" if s == "Self" else s[:-4] + "self" if SELF_REF.match(s) else f"self: {s}"
        return f"{name}: {self.ty(t)}"

    # --- items --------------------------------------------------------------------------------

    def render(self):
        for item_id, paths in self.public.items():
            path, feats = self.canonical(item_id)
            for alias, f in paths:
                if alias != path:
                    self.add(alias, 0, f"pub use {alias} = {path}", f)
            self.item(item_id, path, feats)
        return [line for _, line in sorted(self.lines)]

    def item(self, item_id, path, feats):
        item = self.index[str(item_id)]
        kind, v = next(iter(item["inner"].items()))
        add = lambda line, rank=0, it=item: self.add(path, rank, line, feats, it)
        if kind == "module":
            add(f"pub mod {path}")
        elif kind == "macro":
            add(f"pub macro {path}!")
        elif kind == "function":
            add(self.fn(path, v))
        elif kind == "constant":
            value = "" if v["const"]["expr"] == "_" else f" = {v['const']['expr']}"
            add(f"pub const {path}: {self.ty(v['type'])}{value}")
        elif kind == "static":
            add(f"pub static {'mut ' if v['is_mutable'] else ''}{path}: {self.ty(v['type'])}")
        elif kind == "type_alias":
            add(f"pub type {path}{self.generics(v['generics'])} = {self.ty(v['type'])}{self.where(v['generics'])}")
        elif kind in ("struct", "union"):
            body = v["kind"]
            if body == "unit":
                shape = ";"
            elif "tuple" in body:
                shape = "(" + ", ".join(self.field(fid) if fid is not None else "_" for fid in body["tuple"]) + ")"
            else:
                shape = " { .. }" if body["plain"]["has_stripped_fields"] else ""
                for fid in body["plain"]["fields"]:
                    f = self.index[str(fid)]
                    add(f"pub {path}.{f['name']}: {self.ty(f['inner']['struct_field'])}", 1, f)
            add(f"pub {kind} {path}{self.generics(v['generics'])}{shape}{self.where(v['generics'])}")
            self.impls(path, feats, v["impls"])
        elif kind == "enum":
            add(f"pub enum {path}{self.generics(v['generics'])}{self.where(v['generics'])}")
            for vid in v["variants"]:
                var = self.index[str(vid)]
                add(f"pub {path}::{var['name']}{self.variant(var['inner']['variant'])}", 1, var)
            self.impls(path, feats, v["impls"])
        elif kind == "trait":
            unsafe = "unsafe " if v["is_unsafe"] else ""
            sup = f": {self.bounds(v['bounds'])}" if v["bounds"] else ""
            add(f"pub {unsafe}trait {path}{self.generics(v['generics'])}{sup}{self.where(v['generics'])}")
            self.members(path, feats, v["items"], in_trait=True)
            for iid in v["implementations"]:
                imp = self.index[str(iid)]["inner"]["impl"]
                target = imp["for"].get("resolved_path", {}).get("id")
                if target not in self.public:  # impls for our own types are listed with the type
                    self.impl_line(path, feats, iid)
        else:
            add(f"pub {kind} {path}")

    def field(self, fid):
        return "pub " + self.ty(self.index[str(fid)]["inner"]["struct_field"])

    def variant(self, v):
        k = v["kind"]
        disc = f" = {v['discriminant']['expr']}" if v.get("discriminant") else ""
        if k == "plain":
            return disc
        if "tuple" in k:
            return "(" + ", ".join(self.ty(self.index[str(f)]["inner"]["struct_field"]) if f is not None else "_" for f in k["tuple"]) + ")"
        fields = [f"{self.index[str(f)]['name']}: {self.ty(self.index[str(f)]['inner']['struct_field'])}" for f in k["struct"]["fields"]]
        return " { " + ", ".join(fields + ([".."] if k["struct"]["has_stripped_fields"] else [])) + " }"

    def members(self, path, feats, ids, in_trait=False, outer=None, owner=None):
        for mid in ids:
            m = self.index[str(mid)]
            kind, v = next(iter(m["inner"].items()))
            name = f"{owner or path}::{m['name']}"
            f = feats | self.features(m)
            if kind == "function":
                line = self.fn(name, v, outer)
                line = (line[4:] if in_trait else line) + (" { .. }" if in_trait and v["has_body"] else "")
                self.add(path, 2, line, f, m)
            elif kind == "assoc_const":
                value = f" = {v['value']}" if v.get("value") else ""
                self.add(path, 2, f"{'' if in_trait else 'pub '}const {name}: {self.ty(v['type'])}{value}", f, m)
            elif kind == "assoc_type":
                bounds = f": {self.bounds(v['bounds'])}" if v["bounds"] else ""
                value = f" = {self.ty(v['type'])}" if v.get("type") else ""
                self.add(path, 2, f"type {name}{self.generics(v['generics'])}{bounds}{value}", f, m)

    def impls(self, path, feats, impl_ids):
        for iid in impl_ids:
            imp = self.index[str(iid)]["inner"]["impl"]
            if imp["trait"] is None:
                self.members(path, feats | self.features(self.index[str(iid)]), imp["items"],
                             outer=self.bounds_as_where(imp["generics"]), owner=self.ty(imp["for"]))
            elif imp["is_synthetic"]:
                if imp["is_negative"] and imp["trait"]["path"] in ("Send", "Sync"):
                    self.add(path, 3, f"impl !{imp['trait']['path']} for {self.ty(imp['for'])}", feats)
            elif imp["blanket_impl"] is None and imp["trait"]["path"] != "StructuralPartialEq":
                self.impl_line(path, feats, iid)

    def impl_line(self, path, feats, iid):
        item = self.index[str(iid)]
        imp = item["inner"]["impl"]
        neg = "!" if imp["is_negative"] else ""
        short = f"impl {neg}{self.path(imp['trait'])} for {self.ty(imp['for'])}"
        if imp["trait"]["path"] == "Unpin":  # pin-project's generics and bounds name private items
            head = short
        else:
            head = f"{'unsafe ' if imp['is_unsafe'] else ''}impl{self.generics(imp['generics'])} {short[5:]}{self.where(imp['generics'])}"
        f = feats | self.features(item)
        self.add(path, 3, head, f)
        for mid in imp["items"]:
            m = self.index[str(mid)]
            if "assoc_type" in m["inner"]:
                self.add(path, 3, f"{short}: type {m['name']} = {self.ty(m['inner']['assoc_type']['type'])}", f, after=head)


def main():
    with open(sys.argv[1], encoding="utf-8") as fh:
        doc = json.load(fh)
    if doc.get("format_version") != 57:
        print(f"note: written for rustdoc JSON format 57, got {doc.get('format_version')}", file=sys.stderr)
    sys.stdout.write("".join(line + "\n" for line in Api(doc).render()))


if __name__ == "__main__":
    main()
