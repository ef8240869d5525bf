#!/usr/bin/env python3
"""The layer check `make test` runs: the tree's shape as DESIGN.md states it.

  images/    includes nothing outside itself (its generated *.pb-c.h count
             as its own)
  common/    includes images/ and itself
  convert/   includes images/, common/ and itself; never criu-lite/ or restore/
  restore/   includes images/, common/ and itself; never criu-lite/ or convert/
  criu-lite/ anything above, never test/

and, for every folder holding code (criu-lite/freeze, restore, ...):
  - no circle between folders (A includes B's headers and B includes A's);
  - no circle between .c files: with the objects of a build (--objs),
    A.o using a symbol B.o defines while B.o uses one of A.o's is a circle,
    whichever header declared them;
  - no source file over MAX_LINES lines (STYLE.md: files one can read in one
    sitting).

Exit 0 when the tree keeps every rule; else one line per breach and exit 1.
"""
import argparse
import collections
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = ["images", "common", "criu-lite", "convert", "restore"]
ALLOWED = {
    "images": {"images"},
    "common": {"images", "common"},
    "convert": {"images", "common", "convert"},
    "restore": {"images", "common", "restore"},
    "criu-lite": {"images", "common", "convert", "restore", "criu-lite"},
}
MAX_LINES = 800
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources():
    for top in CODE:
        for d, _, files in os.walk(os.path.join(ROOT, top)):
            for f in sorted(files):
                # (a BPF program, *.bpf.c, runs in the kernel: no layer)
                if f.endswith((".c", ".h")) and not f.endswith(".bpf.c"):
                    yield os.path.relpath(os.path.join(d, f), ROOT)


def layer_of_include(inc):
    if inc.endswith(".pb-c.h") and "/" not in inc:
        return "images"
    return inc.split("/")[0]


def sccs(graph):
    """Strongly connected components with more than one node (iterative Tarjan)."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = n[0]
        n[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n[0]
                    n[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def check_includes(errors):
    folders = collections.defaultdict(set)
    for path in sources():
        text = open(os.path.join(ROOT, path), encoding="utf-8", errors="replace").read()
        top = path.split("/")[0]
        lines = text.count("\n")
        if lines > MAX_LINES:
            errors.append(f"{path}: {lines} lines (at most {MAX_LINES})")
        for inc in INCLUDE.findall(text):
            layer = layer_of_include(inc)
            if layer not in ALLOWED[top]:
                errors.append(f"{path}: includes {inc}: {top}/ may include only "
                              f"{', '.join(sorted(ALLOWED[top]))}")
            # (generated: *.pb-c.h from a .proto, *.lskel.h from a .bpf.c)
            if inc.endswith(".lskel.h"):
                inc = inc[: -len(".lskel.h")] + ".bpf.c"
            if "/" in inc and not inc.endswith(".pb-c.h"):
                if not os.path.exists(os.path.join(ROOT, inc)):
                    errors.append(f"{path}: includes {inc}, which does not exist")
                    continue
                a, b = os.path.dirname(path), os.path.dirname(inc)
                if a != b:
                    folders[a].add(b)
    for comp in sccs(folders):
        errors.append("folders include each other in a circle: " + " -> ".join(comp))


def symbols(obj):
    out = subprocess.run(["nm", "-g", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in "TDBRVWGS":
            defined.add(f[2])
        elif len(f) == 2 and f[0] == "U":
            used.add(f[1])
    return defined, used


def check_objects(paths, errors):
    objs = [p for p in paths if p.endswith(".o") and "/pb/" not in p]
    if not objs:
        errors.append("no objects to read (build first)")
        return
    objdir = os.path.commonpath(objs)
    while os.path.basename(objdir) in CODE or not os.path.isdir(objdir):
        objdir = os.path.dirname(objdir)
    defs, uses, owner = {}, {}, {}
    for o in objs:
        defs[o], uses[o] = symbols(o)
        for s in defs[o]:
            owner[s] = o
    graph = {o: {owner[s] for s in uses[o] if s in owner and owner[s] != o} for o in objs}
    for comp in sccs(graph):
        names = [os.path.relpath(o, objdir)[:-2] + ".c" for o in comp]
        errors.append(".c files depend on each other in a circle: " + ", ".join(names))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--objs", nargs="+", metavar="OBJ",
                    help="the objects of a build (build/obj/**/*.o), for the .c circle check")
    args = ap.parse_args()
    errors = []
    check_includes(errors)
    if args.objs:
        check_objects(args.objs, errors)
    for e in errors:
        print("layers: " + e, file=sys.stderr)
    if not errors:
        print("layers: ok (includes by layer, no circles between folders"
              + (" or .c files" if args.objs else "") + f", files under {MAX_LINES} lines)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
