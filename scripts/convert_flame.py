#!/usr/bin/env python3
"""Converts a FLAME model you hold a licence for into a file `face.model` reads.

FLAME's licence forbids redistributing it, so the project ships none; after
registering at https://flame.is.tue.mpg.de and downloading FLAME (2020 or
2023), run:

    pip install numpy scipy chumpy            # chumpy: FLAME's pickle holds chumpy arrays
    python scripts/convert_flame.py generic_model.pkl flame.npz --masks FLAME_masks.pkl

and point a `face.model` node at flame.npz (with `flame_shape_params` 300, the
identity directions of FLAME 2020 and 2023). Writing `.safetensors` instead
needs `pip install safetensors`.

The output holds FLAME's standard arrays under their usual names (v_template,
f, shapedirs, posedirs, J_regressor made dense, weights, kintree_table) and,
with --masks, the lips, forehead and eye-region vertex masks as mask_lips,
mask_forehead and mask_eye_region, which give the lip and upper-face vertex
sets of the metrics.
"""

import argparse
import pickle
import sys

import numpy as np

ARRAYS = ["v_template", "f", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table"]
MASKS = ["lips", "forehead", "eye_region"]


def dense(value):
    """A numpy array from a numpy, chumpy or scipy-sparse value."""
    if hasattr(value, "toarray"):
        value = value.toarray()
    return np.asarray(value)


def load_pickle(path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="FLAME's generic_model.pkl (or flame2023.pkl)")
    parser.add_argument("out", help="the file to write: .npz or .safetensors")
    parser.add_argument("--masks", help="FLAME_masks.pkl, for the lip and upper-face vertex sets")
    args = parser.parse_args()

    model = load_pickle(args.model)
    missing = [name for name in ARRAYS if name not in model]
    if missing:
        sys.exit(f"{args.model}: not a FLAME model (no {', '.join(missing)})")
    arrays = {}
    for name in ARRAYS:
        array = dense(model[name])
        if name in ("f", "kintree_table"):
            array = array.astype(np.int64)
        else:
            array = array.astype(np.float32)
        arrays[name] = np.ascontiguousarray(array)
    if args.masks:
        masks = load_pickle(args.masks)
        for name in MASKS:
            if name in masks:
                arrays[f"mask_{name}"] = np.ascontiguousarray(dense(masks[name]).astype(np.int64).ravel())

    if args.out.endswith(".safetensors"):
        from safetensors.numpy import save_file

        save_file(arrays, args.out)
    elif args.out.endswith(".npz"):
        np.savez(args.out, **arrays)
    else:
        sys.exit(f"{args.out}: write a .npz or .safetensors file")
    shapes = ", ".join(f"{k} {list(v.shape)}" for k, v in arrays.items())
    print(f"wrote {args.out}: {shapes}")


if __name__ == "__main__":
    main()
