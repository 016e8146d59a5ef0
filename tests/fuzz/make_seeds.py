#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Each seed is a small valid input, a near miss, or a known-hostile input from
issue 9's probe (overflowing shapes, a gzip bomb, BOM headers, a label of
1e300). Run once; the output is committed. Standard library only.
"""
import gzip
import json
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx_images(n, rows, cols, fill=7, claimed_n=None):
    head = struct.pack(">IIII", 0x803, claimed_n if claimed_n is not None else n, rows, cols)
    return head + bytes([fill]) * (n * rows * cols)


def idx_labels(labels, claimed_n=None):
    return struct.pack(">II", 0x801, claimed_n if claimed_n is not None else len(labels)) + bytes(labels)


# ---- idx (raw; gzip streams are raw inputs to this target too) --------------
put("idx", "images_2x3x3", idx_images(2, 3, 3))
put("idx", "labels_4", idx_labels([0, 9, 3, 1]))
put("idx", "images_truncated", idx_images(2, 3, 3)[:-5])
put("idx", "images_overflow_dims", struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF))
put("idx", "labels_claim_more", idx_labels([1, 2], claimed_n=1000))
put("idx", "wrong_magic", struct.pack(">II", 0x802, 0) + b"\0" * 8)
put("idx", "images_gz", gzip.compress(idx_images(3, 4, 4), mtime=0))
# A gzip bomb: the header promises one 28×28 image; the stream inflates to 16 MiB.
put("idx", "gzip_bomb", gzip.compress(idx_images(1, 28, 28) + b"\0" * (16 << 20), compresslevel=9, mtime=0))
put("idx", "gz_truncated", gzip.compress(idx_images(2, 3, 3), mtime=0)[:20])

# ---- idx_gz (the target compresses its input) -------------------------------
put("idx_gz", "images_2x3x3", idx_images(2, 3, 3))
put("idx_gz", "labels_4", idx_labels([0, 9, 3, 1]))
put("idx_gz", "images_claim_more", idx_images(1, 3, 3, claimed_n=50))

# ---- CIFAR-10 binary --------------------------------------------------------
rec = lambda label, px: bytes([label]) + bytes([px]) * 3072
put("cifar", "two_records", rec(3, 10) + rec(9, 200))
put("cifar", "partial_record", rec(1, 5) + b"\x01" * 100)
put("cifar", "label_out_of_range", rec(10, 0))

# ---- CSV dataset (first byte: options) --------------------------------------
put("csv", "header_labels", b"\x05label,a,b\n0,1.5,2\n1,-3,4e-2\n2,0,0\n")
put("csv", "bom_header", b"\x01\xef\xbb\xbfy,x\n1,2\n0,3\n")
put("csv", "plus_and_quotes", b"\x04+1,\"2\",3\n0,1,1\n")
put("csv", "hostile_labels", b"\x04inf,1\n1e300,2\n1e15,3\n-1,4\n")
put("csv", "nan_features", b"\x04" + b"0,nan\n1,-inf\n2,1e999\n")
put("csv", "ragged", b"\x040,1,2\n1,2\n2,3,4,5\n")
put("csv", "semicolons", b"\x84" + b"0;1.5;2\n1;2;3\n")

# ---- .npy ------------------------------------------------------------------
def npy(shape_text, data=b"", major=1, descr="<f8", fortran="False", claimed=None):
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape_text)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    n = claimed if claimed is not None else len(header)
    size = struct.pack("<H", n) if major == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([major, 0]) + size + header.encode() + data


put("npy", "vector3", npy("(3,)", struct.pack("<3d", 1.0, -2.5, 1e-300)))
put("npy", "matrix2x2", npy("(2, 2)", struct.pack("<4d", 1, 2, 3, 4)))
put("npy", "scalar", npy("()", struct.pack("<d", 7.0)))
put("npy", "v2_header", npy("(1,)", struct.pack("<d", 1.0), major=2))
put("npy", "overflowing_shape", npy("(4294967296, 4294967296, 16)"))
put("npy", "negative_dim", npy("(-1,)"))
put("npy", "fraction_dim", npy("(1.5,)"))
put("npy", "claims_4GB_header", npy("(1,)", major=2, claimed=0xFFFFFFF0))
put("npy", "fortran", npy("(2, 1)", struct.pack("<2d", 1, 2), fortran="True"))
put("npy", "float32", npy("(2,)", struct.pack("<2f", 1, 2), descr="<f4"))
# .npz archives as numpy writes them (stored, deflated) and a 2-D float32
# array, for the --theta readers; copies of tests/data/theta/ (numpy-made).
for name, source in [("npz_stored", "savez.npz"), ("npz_deflated_f32", "named_f32.npz"), ("rows_f32", "rows_f32.npy")]:
    with open(os.path.join(os.path.dirname(__file__), "..", "data", "theta", source), "rb") as f:
        put("npy", name, f.read())

# ---- objective spec ---------------------------------------------------------
spec = {"activation": "tanh", "bias": True, "chunk_size": 5000, "hidden": [200, 200], "init": "pytorch",
        "init_seed": 0, "loss": "ce", "weight_decay": 0.0,
        "data": {"classes": 10, "dim": 0, "label_column": 0, "n": 5000, "path": "", "scale_unit": True, "seed": 0,
                 "separation": 1.0, "source": "fashion-mnist", "split": "train", "standardize": True}}
put("spec", "fashion_mnist", json.dumps(spec))
gauss = json.loads(json.dumps(spec))
gauss["data"].update(source="gaussian_clusters", dim=6, classes=3, n=400)
put("spec", "gaussian", json.dumps(gauss))
put("spec", "string", '"fashion-mnist"')
put("spec", "array", "[1, 2, 3]")
bad = json.loads(json.dumps(spec)); bad["data"]["n"] = -5
put("spec", "negative_n", json.dumps(bad))
bad = json.loads(json.dumps(spec)); bad["hiden"] = [3]
put("spec", "misspelled_key", json.dumps(bad))
bad = json.loads(json.dumps(spec)); bad["hidden"] = [2.5]
put("spec", "fraction_width", json.dumps(bad))

# ---- trajectory manifest ----------------------------------------------------
manifest = {"format": "eoslab-trajectory/1", "objective": "f", "optimizer": "GD(lr=constant(0.5))",
            "objective_spec": gauss, "lr": 0.5, "seed": 0, "batch_size": 0, "every": 50,
            "steps": [0, 50, 100], "step_lrs": [0.5, 0.5, 0.5],
            "files": ["theta_00000000.npy", "theta_00000050.npy", "theta_00000100.npy"], "outcome": "ran 100 steps"}
put("manifest", "valid", json.dumps(manifest, indent=2))
m = json.loads(json.dumps(manifest)); m["files"][1] = "../../etc/passwd"
put("manifest", "escaping_file", json.dumps(m))
m = json.loads(json.dumps(manifest)); m["steps"] = [0, -50, 50]
put("manifest", "negative_step", json.dumps(m))
m = json.loads(json.dumps(manifest)); m["steps"] = [0, 50, 50]
put("manifest", "duplicate_step", json.dumps(m))
m = json.loads(json.dumps(manifest)); m["lr"] = -1
put("manifest", "negative_lr", json.dumps(m))

# ---- state files (checkpoints) -----------------------------------------------
def state(entries):
    header = {"format": "eoslab-state/1", "entries": []}
    payload = b""
    for key, kind, value in sorted(entries, key=lambda e: e[0]):
        if kind == "f64":
            shape = [len(value)]
            payload += struct.pack("<%dd" % len(value), *value)
        elif kind == "u64":
            shape = [len(value)]
            payload += struct.pack("<%dQ" % len(value), *value)
        else:
            shape = [len(value)]
            payload += value.encode()
        header["entries"].append({"key": key, "type": kind, "shape": shape})
    h = json.dumps(header, separators=(",", ":")).encode()
    body = b"EOSSTATE" + struct.pack("<Q", len(h)) + h + payload
    return body + struct.pack("<I", zlib.crc32(body))


put("state", "checkpoint", state([("trainer.theta", "f64", [0.5, -1.0, 2.0]), ("trainer.step", "u64", [12]),
                                  ("optimizer.kind", "text", "GD(lr=constant(0.1))"), ("optimizer.t", "u64", [12]),
                                  ("sampler.perm", "u64", [2, 0, 1])]))
put("state", "empty", state([]))
hostile = state([("theta", "f64", [1.0])]).replace(b'"shape":[1]', b'"shape":[99999999999]')
put("state", "huge_shape_bad_crc", hostile)

# ---- metrics.csv --------------------------------------------------------------
put("metrics_csv", "run", "step,lr,loss,rp\n0,0.5,1.25,-0.5\n1,0.5,1.0,\n2,0.5,4.9406564584124654e-324,nan\n")
put("metrics_csv", "cut_last_line", "step,lr,loss\n0,0.5,1.25\n1,0.5,1.")
put("metrics_csv", "short_row", "step,lr,loss\n0,0.5\n")
put("metrics_csv", "long_row", "step,lr\n0,0.5,1,2\n")

# ---- plugin specs -------------------------------------------------------------
for i, s in enumerate(["loss", "rp", "sharpness:k=2,tol=1e-4,stop=value,extra=1@5", "tau_profile:grid=gauss,m=8",
                       "sgd_rp:draws=3,batch=4@epoch", "hessian_trace:probes=4", "corollary1:points=3",
                       "precond_sharpness:tol=1e-6", "sharpness:k=100000000", "sharpness:k=2,k=3",
                       "tau_profile:grid=gauss,m=300000", "accuracy@0"]):
    put("plugin_spec", "spec%02d" % i, s)

# ---- command-line values (first byte: which parser) ------------------------------
values = [(0, "1e-3"), (0, "1e999"), (1, "2/15"), (1, "1/0"), (1, "-0.5"), (2, "18446744073709551616"),
          (3, "200,200"), (3, "none"), (4, "13,0.01"), (5, "gaussian:6,3"), (5, "csv:"), (5, "idx:/nonexistent"),
          (6, "1s"), (6, "0.5s"), (6, "off"), (7, "sharpness:k=2@10"), (7, "rp@0")]
for i, (sel, text) in enumerate(values):
    put("cli_values", "value%02d" % i, bytes([sel]) + text.encode())
argv = ["--data", "gaussian:6,3", "--n", "400", "--widths", "32", "--lr", "2/15", "--optimizer", "adam",
        "--batch-size", "32", "--plugin", "sharpness@5", "--schedule", "cosine", "--checkpoint-every", "10"]
put("cli_values", "train_args", bytes([8]) + b"\0".join(a.encode() for a in argv))
put("cli_values", "train_args_toy", bytes([8]) + b"\0".join(a.encode() for a in
                                                               ["--toy", "tanh_neuron", "--theta0", "13,0.01"]))
