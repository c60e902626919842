#!/usr/bin/env python3
"""Writes tests/fixtures/faceformer: tiny VOCASET and BIWI folders in the
layout FaceFormer's preprocessing writes, and the VOCASET templates pickled
every way such files come.

    python3 scripts/make-faceformer-fixtures.py     # needs numpy

Layout (see nodes/src/dataset/faceformer/mod.rs):
    {vocaset,biwi}/wav/SUBJECT_SENTENCE.wav
    {vocaset,biwi}/vertices_npy/SUBJECT_SENTENCE.npy   [T, V*3]
    {vocaset,biwi}/templates.pkl                       {subject: [V, 3]}
    vocaset/FLAME_masks.pkl                            {region: int64 vertex indices}, as FLAME ships it
    biwi/regions/{lve,fdd}.txt                         "i, j, k", as CodeTalker ships BIWI's

The vertex sets: lips 0-3 (FLAME's `lips`; BIWI's lve.txt), upper face
8-11 (FLAME's `forehead` 8-9 and `eye_region` 10-11; BIWI's fdd.txt).

V = 12 vertices. VOCASET: 3 subjects, 0.5 s at 60 fps (30 frames), float32,
templates pickled as Python 2's cPickle protocol 2 writes them (assembled
here opcode by opcode: BINSTRING/SHORT_BINSTRING byte strings). BIWI: 3
subjects, 0.5 s at 25 fps (12 frames), float64, templates as Python 3's
pickle.dump writes scipy.io.loadmat's arrays (protocol 4, column-major).
Audio is 0.5 s of a sine as 16-bit PCM at 8 kHz (VOCASET's is 22 kHz,
BIWI's 44.1 kHz; 8 kHz keeps the fixtures small).

Every value is a multiple of 2^-10 small enough to be exact in float32, so
all encodings hold the same numbers; the Rust tests recompute them:
    template[s][v][k] = (s + 1) / 4 + v / 64 + k / 1024
    vertices[t][v][k] = template[s][v][k] + ((7 t + 3 v + k) % 11 - 5) / 512
with s the subject's index in its list below.
"""

import os
import pickle
import struct
import wave

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "faceformer")
V = 12
SAMPLE_RATE = 8000

VOCASET = {
    "subjects": ["FaceTalk_170725_00137_TA", "FaceTalk_170811_03275_TA", "FaceTalk_170809_00138_TA"],
    "sentences": ["sentence01", "sentence21"],
    "frames": 30,
    "dtype": "<f4",
}
BIWI = {
    "subjects": ["F2", "M3", "M1"],
    "sentences": {"F2": ["e01", "e37"], "M3": ["e32", "e33"], "M1": ["e36", "e37"]},
    "frames": 12,
    "dtype": "<f8",
}


def template(s):
    v = np.arange(V)[:, None]
    k = np.arange(3)[None, :]
    return (s + 1) / 4 + v / 64 + k / 1024 + np.zeros((V, 3))


def vertices(s, frames):
    t = np.arange(frames)[:, None, None]
    v = np.arange(V)[None, :, None]
    k = np.arange(3)[None, None, :]
    offsets = ((7 * t + 3 * v + k) % 11 - 5) / 512
    return (template(s)[None] + offsets).reshape(frames, V * 3)


def write_wav(path, s):
    n = SAMPLE_RATE // 2
    i = np.arange(n)
    samples = np.round(0.5 * 32767 * np.sin(2 * np.pi * 200 * (s + 1) * i / SAMPLE_RATE)).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(samples.tobytes())


class Python2Pickle:
    """What Python 2's cPickle writes for a dict of float64 numpy arrays,
    protocol 0 (text opcodes, STRING) or 2 (binary, BINSTRING and
    SHORT_BINSTRING), with its memo: globals and the shared dtype are
    written once and fetched after."""

    def __init__(self, protocol):
        self.protocol = protocol
        self.out = bytearray(b"\x80\x02" if protocol == 2 else b"")
        self.memo = {}

    def put(self, key=None):
        index = len(self.memo)
        self.memo[key if key is not None else ("anonymous", index)] = index
        if self.protocol == 2:
            self.out += b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)
        else:
            self.out += b"p%d\n" % index

    def get(self, key):
        index = self.memo[key]
        if self.protocol == 2:
            self.out += b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)
        else:
            self.out += b"g%d\n" % index

    def string(self, data):
        if self.protocol == 2:
            if len(data) < 256:
                self.out += b"U" + bytes([len(data)]) + data
            else:
                self.out += b"T" + struct.pack("<i", len(data)) + data
        else:
            self.out += b"S" + repr(data)[1:].encode("ascii") + b"\n"
        self.put()

    def int(self, n):
        if self.protocol == 2:
            self.out += b"K" + bytes([n]) if 0 <= n < 256 else b"J" + struct.pack("<i", n)
        else:
            self.out += b"I%d\n" % n

    def bool(self, b):
        if self.protocol == 2:
            self.out += b"\x88" if b else b"\x89"
        else:
            self.out += b"I01\n" if b else b"I00\n"

    def tuple(self, write_items, count):
        if self.protocol == 2 and 1 <= count <= 3:
            write_items()
            self.out += bytes([0x84 + count])
        else:
            self.out += b"("
            write_items()
            self.out += b"t"
        self.put()

    def global_(self, module, name):
        key = ("global", module, name)
        if key in self.memo:
            self.get(key)
        else:
            self.out += b"c" + module + b"\n" + name + b"\n"
            self.put(key)

    def dtype(self):
        if ("dtype",) in self.memo:
            return self.get(("dtype",))
        self.global_(b"numpy", b"dtype")
        self.tuple(lambda: (self.string(b"f8"), self.int(0), self.int(1)), 3)
        self.out += b"R"
        self.put(("dtype",))
        self.out += b"("
        self.int(3)
        self.string(b"<")
        self.out += b"NNN"
        self.int(-1)
        self.int(-1)
        self.int(0)
        self.out += b"t"
        self.put()
        self.out += b"b"

    def array(self, a):
        a = np.ascontiguousarray(a, dtype="<f8")
        self.global_(b"numpy.core.multiarray", b"_reconstruct")
        self.tuple(
            lambda: (
                self.global_(b"numpy", b"ndarray"),
                self.tuple(lambda: self.int(0), 1),
                self.string(b"b"),
            ),
            3,
        )
        self.out += b"R"
        self.put()
        self.out += b"("
        self.int(1)
        self.tuple(lambda: [self.int(d) for d in a.shape], len(a.shape))
        self.dtype()
        self.bool(False)
        self.string(a.tobytes())
        self.out += b"t"
        self.put()
        self.out += b"b"

    def dict(self, d):
        if self.protocol == 2:
            self.out += b"}"
            self.put()
            self.out += b"("
            for key, value in d.items():
                self.string(key.encode("latin1"))
                self.array(value)
            self.out += b"u"
        else:
            self.out += b"(d"
            self.put()
            for key, value in d.items():
                self.string(key.encode("latin1"))
                self.array(value)
                self.out += b"s"
        self.out += b"."
        return bytes(self.out)


def write_dataset(name, spec, templates_pickle):
    folder = os.path.join(ROOT, name)
    for sub in ("wav", "vertices_npy"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    for s, subject in enumerate(spec["subjects"]):
        sentences = spec["sentences"][subject] if isinstance(spec["sentences"], dict) else spec["sentences"]
        for sentence in sentences:
            stem = subject + "_" + sentence
            write_wav(os.path.join(folder, "wav", stem + ".wav"), s)
            np.save(os.path.join(folder, "vertices_npy", stem + ".npy"), vertices(s, spec["frames"]).astype(spec["dtype"]))
    with open(os.path.join(folder, "templates.pkl"), "wb") as f:
        f.write(templates_pickle)


def write_regions():
    masks = {
        "lips": np.arange(0, 4, dtype="<i8"),
        "nose": np.array([5, 6], dtype="<i8"),
        "forehead": np.array([8, 9], dtype="<i8"),
        "eye_region": np.array([10, 11], dtype="<i8"),
    }
    with open(os.path.join(ROOT, "vocaset", "FLAME_masks.pkl"), "wb") as f:
        pickle.dump(masks, f, protocol=2)
    regions = os.path.join(ROOT, "biwi", "regions")
    os.makedirs(regions, exist_ok=True)
    for name, indices in (("lve.txt", range(0, 4)), ("fdd.txt", range(8, 12))):
        with open(os.path.join(regions, name), "w") as f:
            f.write(", ".join(str(i) for i in indices))


def main():
    vocaset_templates = {subject: template(s) for s, subject in enumerate(VOCASET["subjects"])}
    write_dataset("vocaset", VOCASET, Python2Pickle(2).dict(vocaset_templates))
    biwi_templates = {subject: np.asfortranarray(template(s)) for s, subject in enumerate(BIWI["subjects"])}
    write_dataset("biwi", BIWI, pickle.dumps(biwi_templates, protocol=4))
    write_regions()

    # The VOCASET templates in the other encodings; vocaset/templates.pkl is
    # the Python 2 protocol-2 one.
    pickles = os.path.join(ROOT, "pickles")
    os.makedirs(pickles, exist_ok=True)
    variants = {
        "py2-protocol0.pkl": Python2Pickle(0).dict(vocaset_templates),
        "py3-protocol0.pkl": pickle.dumps(vocaset_templates, protocol=0),
        "py3-protocol2-f4.pkl": pickle.dumps({k: v.astype("<f4") for k, v in vocaset_templates.items()}, protocol=2),
        "py3-protocol4-fortran-big-endian.pkl": pickle.dumps(
            {k: np.asfortranarray(v.astype(">f8")) for k, v in vocaset_templates.items()}, protocol=4
        ),
    }
    for file, data in variants.items():
        with open(os.path.join(pickles, file), "wb") as f:
            f.write(data)
        assert all(np.array_equal(pickle.loads(data, encoding="latin1")[k], v) for k, v in vocaset_templates.items())
    # What FaceFormer's loader does with each templates file.
    for name in ("vocaset", "biwi"):
        with open(os.path.join(ROOT, name, "templates.pkl"), "rb") as f:
            loaded = pickle.load(f, encoding="latin1")
        assert all(loaded[k].shape == (V, 3) for k in loaded)


if __name__ == "__main__":
    main()
