"""PyTorch side of the motion-model speed comparison, with the independent
implementation in scripts/motion_torch.py and random weights and data.

    motion_torch_bench.py step THREADS          one training step of the default
        model (gaussian_speech, hidden 64, batch 16 windows of 100 frames):
        forward, Gram losses, backward, clipping at 1.0, AdamW; median of 10
        steps after 2 warm-ups
    motion_torch_bench.py infer SECONDS THREADS   inference on SECONDS of audio
        at 25 fps: features prepared (interpolated, normalised), windows of 200
        frames overlapping by 25, blended; median of 5 after one warm-up

Each prints one JSON line: {"case", "time_s", "peak_mib", ...}.
"""
import json
import os
import pathlib
import resource
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import motion_torch as mt  # noqa: E402

# The moved-vertex count of the model being compared (scripts/bench-motion.sh
# passes the default model's); the lip and upper sets are ICT-FaceKit's sizes.
MOVED = int(os.environ.get("MOVED", 9409))
LIP, UPPER, CODES, SPEAKERS = 980, 2914, 53, 5
BATCH, WINDOW_FRAMES = 16, 100


def default_config():
    """The default model's size (make_config's defaults, train.rs's)."""
    return mt.make_config(
        "gaussian_speech",
        expression_names=[f"code{i}" for i in range(CODES)],
        speakers=[f"speaker{i}" for i in range(SPEAKERS)],
        vertices=MOVED,
        moved=[[0, MOVED]],
    )


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model_with_random_weights(config):
    model = mt.MotionTransformer(config)
    # A trained mapper is not zero; the cost is the same either way.
    torch.nn.init.normal_(model.decoder.vertex_mapper.weight, std=0.01)
    return model


def bench_step(threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = default_config()
    model = model_with_random_weights(config).train()
    # Expression shapes on the moved vertices (model units, cm) and the lip and
    # upper-face sets, the first LIP and UPPER moved vertices.
    shapes = torch.randn(CODES, MOVED * 3) * 0.1
    objective = mt.Objective(shapes, lip=range(LIP), upper=range(UPPER), mm=10.0)
    optimiser = mt.adamw(model, lr=1e-3, weight_decay=0.01)
    width = config["features"]["dims"] * config["steps_per_frame"]
    audio = torch.randn(BATCH, WINDOW_FRAMES, width)
    weights = torch.rand(BATCH, WINDOW_FRAMES, CODES)
    mask = torch.ones(BATCH, WINDOW_FRAMES, 1)
    style = mt.styles([b % SPEAKERS for b in range(BATCH)], SPEAKERS)
    lengths = [WINDOW_FRAMES] * BATCH
    times = []
    for i in range(12):
        start = time.perf_counter()
        loss, _ = mt.train_step(model, objective, optimiser, audio, style, weights, mask, lengths, clip=1.0)
        loss = loss.item()
        if i >= 2:
            times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"case": "step", "threads": threads, "batch": BATCH, "frames": WINDOW_FRAMES,
                      "time_s": times[len(times) // 2], "peak_mib": peak_mib(), "loss": loss}))


def bench_infer(seconds, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = default_config()
    model = model_with_random_weights(config).eval()
    dims = config["features"]["dims"]
    frames = round(seconds * config["fps"])
    features = torch.randn(round(seconds * config["features"]["rate"]), dims)
    mean, std = torch.randn(dims), torch.rand(dims) + 0.5

    def run():
        prepared = mt.prepare(config, features, frames, mean, std)
        return mt.generate(model, prepared, frames, speaker=None, window=200, overlap=25)

    times = []
    with torch.inference_mode():
        run()
        for _ in range(5):
            start = time.perf_counter()
            offsets, codes = run()
            times.append(time.perf_counter() - start)
    times.sort()
    print(json.dumps({"case": "infer", "seconds": seconds, "threads": threads, "frames": offsets.shape[0],
                      "time_s": times[2], "peak_mib": peak_mib()}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "step":
        bench_step(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "infer":
        bench_infer(float(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(__doc__)
