#!/usr/bin/env python3
"""Make N mutated copies of a good dump (bit flips, truncations at entry
boundaries and anywhere, edited bytes in entries) and check that show --ps,
convert and restore each refuse every copy that is not byte-identical to the
dump, with one line on stderr and a non-zero status (issue 15).

usage: mutate_dumps.py CRIU_LITE DUMP_DIR N [SEED]
Restore runs with -d --pidfile; anything it restored is killed and counted
as accepted."""
import os, random, shutil, signal, struct, subprocess, sys, tempfile

def frames(data):
    off, out = 4, []
    while off + 4 <= len(data):
        (n,) = struct.unpack_from("<I", data, off)
        out.append(off)
        off += 4 + n
    return out

def mutate(rng, files):
    name = rng.choice(sorted(files))
    data = bytearray(files[name])
    kind = rng.choice(["flip", "flip", "cut_entry", "cut_any", "edit"])
    if kind == "flip" and data:
        i = rng.randrange(len(data)); data[i] ^= 1 << rng.randrange(8)
    elif kind == "cut_entry" and not name.startswith("pages-") and len(frames(data)) > 0:
        data = data[:rng.choice(frames(data))]
    elif kind == "cut_any" and data:
        data = data[:rng.randrange(len(data))]
    elif data:  # edit: a byte of an entry set to a random value
        i = rng.randrange(len(data)); data[i] = rng.randrange(256)
    return name, kind, bytes(data)

def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    return p.returncode, p.stderr.decode(errors="replace")

def main():
    exe, dump, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 15)
    files = {f: open(os.path.join(dump, f), "rb").read() for f in os.listdir(dump)
             if os.path.isfile(os.path.join(dump, f))}
    work = tempfile.mkdtemp(prefix="criu-lite-mutate-")
    made = identical = refused = 0
    accepted, multiline = [], []
    try:
        for k in range(n):
            name, kind, data = mutate(rng, files)
            made += 1
            if data == files[name]:
                identical += 1
                continue
            d = os.path.join(work, "m")
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(dump, d)
            open(os.path.join(d, name), "wb").write(data)
            pidfile = os.path.join(work, "pid")
            ok = True
            for verb, cmd in (("show", [exe, "show", "-D", d, "--ps"]),
                              ("convert", [exe, "convert", "-D", d, "-o", os.path.join(work, "core")]),
                              ("restore", [exe, "restore", "-D", d, "-d", "--pidfile", pidfile])):
                rc, err = run(cmd)
                if os.path.exists(pidfile):
                    try:
                        os.kill(int(open(pidfile).read()), signal.SIGKILL)
                    except (ValueError, ProcessLookupError):
                        pass
                    os.unlink(pidfile)
                for leftover in ("core",):
                    p = os.path.join(work, leftover)
                    if os.path.exists(p):
                        os.unlink(p)
                if rc == 0:
                    ok = False
                    accepted.append((k, verb, name, kind))
                elif err.count("\n") != 1:
                    multiline.append((k, verb, name, kind, err))
            refused += ok
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"made {made}, byte-identical {identical}, refused by all three {refused}, "
          f"accepted {len(accepted)}, refusals not one line {len(multiline)}")
    for a in accepted[:20]:
        print("accepted:", a)
    for m in multiline[:10]:
        print("not one line:", m)
    return 1 if accepted or multiline else 0

if __name__ == "__main__":
    sys.exit(main())
