"""PyTorch side of the Wav2Vec 2.0 benchmark (see scripts/bench-wav2vec2.sh).

    wav2vec2_torch_bench.py make MODEL_DIR           random weights, facebook/wav2vec2-base-960h config
    wav2vec2_torch_bench.py run MODEL_DIR SECONDS THREADS   one case: prints a JSON line
"""
import json
import resource
import sys
import time

import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

if sys.argv[1] == "make":
    torch.manual_seed(0)
    # The defaults of Wav2Vec2Config are the wav2vec2-base(-960h) architecture.
    Wav2Vec2Model(Wav2Vec2Config()).eval().save_pretrained(sys.argv[2], safe_serialization=True)
    sys.exit(0)

model_dir, seconds, threads = sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
model = Wav2Vec2Model.from_pretrained(model_dir).eval()
audio = torch.randn(1, int(seconds * 16000)) * 0.1
with torch.inference_mode():
    model(torch.randn(1, 16000))
    times = []
    for _ in range(5):
        start = time.perf_counter()
        out = model(audio).last_hidden_state
        times.append(time.perf_counter() - start)
times.sort()
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "time_s": times[2], "peak_mib": peak_mib, "frames": out.shape[1]}))
