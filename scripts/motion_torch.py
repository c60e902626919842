"""An independent PyTorch implementation of the speech-to-motion network in
nodes/src/motion/ (both architectures), for parity fixtures and speed
comparisons. It is written from the Rust code, not shared with it:

* parameter names are the Rust VarBuilder names (`lip_encoder.input.weight`,
  `decoder.layers.0.cross_attention.key.bias`, ...), so a `state_dict` maps
  1:1 onto a checkpoint's tensors;
* the same maths: pre-norm layers (LayerNorm, eps 1e-5), exact (erf) GELU,
  FaceFormer's ALiBi slopes, the biased causal mask, the encoders' symmetric
  bias, the diagonal alignment mask, key padding, the finite masked value
  -1e9 and the periodic positional encoding;
* `Objective` is `Objective::losses` of train.rs: every vertex loss as a
  quadratic form over small Gram matrices, summed in float64.

    python scripts/motion_torch.py selftest     checks the masks against the
        Rust unit tests' hand values and FaceFormer's mask code, and the Gram
        losses against the direct sums over vertex offsets

Needs `pip install torch safetensors numpy`.
"""
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

# The additive value of a masked attention score (attention.rs `MASKED`).
MASKED = -1e9
EPS = 1e-5
ARCHITECTURES = ("gaussian_speech", "faceformer")


# ----------------------------------------------------------------------------
# Configuration (config.rs `Config`, serialised field for field)


def make_config(
    architecture="gaussian_speech",
    dims=80,
    steps_per_frame=2,
    hidden=64,
    heads=4,
    feed_forward=128,
    lip_layers=2,
    wrinkle_layers=1,
    expression_layers=1,
    decoder_layers=2,
    period=25,
    expression_names=None,
    speakers=None,
    vertices=5,
    moved=None,
    fps=25.0,
    kind="mel",
    rate=50.0,
    face_name="face",
    digest="0",
    units="cm",
    codes_are_weights=True,
    personalised=False,
):
    """A config dict with exactly the fields (and field order) of the Rust
    `Config`'s JSON."""
    return {
        "architecture": architecture,
        "features": {"kind": kind, "dims": dims, "rate": float(rate)},
        "fps": float(fps),
        "steps_per_frame": steps_per_frame,
        "hidden": hidden,
        "heads": heads,
        "feed_forward": feed_forward,
        "lip_layers": lip_layers,
        "wrinkle_layers": wrinkle_layers,
        "expression_layers": expression_layers,
        "decoder_layers": decoder_layers,
        "period": period,
        "expression_names": list(expression_names if expression_names is not None else ["code0"]),
        "codes_are_weights": codes_are_weights,
        "personalised": personalised,
        "face": {
            "name": face_name,
            "vertices": vertices,
            "digest": digest,
            "units": units,
            "moved": [list(r) for r in (moved if moved is not None else [[0, vertices]])],
        },
        "speakers": list(speakers if speakers is not None else ["speaker0"]),
        "training": None,
    }


def moved_vertices(config):
    return [v for a, b in config["face"]["moved"] for v in range(a, b)]


def vertex_outputs(config):
    return 3 * len(moved_vertices(config))


def check(config):
    """config.rs `Config::check`."""
    for name in ("steps_per_frame", "hidden", "heads", "feed_forward", "lip_layers", "decoder_layers", "period"):
        if config[name] == 0:
            raise ValueError(f"`{name}` must be at least 1")
    if config["features"]["dims"] == 0 or not config["speakers"]:
        raise ValueError("`features.dims` and `speakers` must be at least 1")
    if config["hidden"] % config["heads"]:
        raise ValueError("`hidden` must be a multiple of `heads`")
    if config["architecture"] not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {config['architecture']}")
    if config["architecture"] == "gaussian_speech" and (
        config["wrinkle_layers"] == 0 or config["expression_layers"] == 0 or not config["expression_names"]
    ):
        raise ValueError("the GaussianSpeech architecture needs wrinkle and expression layers and codes")
    if vertex_outputs(config) == 0:
        raise ValueError("the model moves no vertices")


# ----------------------------------------------------------------------------
# Masks and positions (attention.rs). Every pattern is made in float32, as the
# Rust code makes it, and only then cast to the model's dtype.


def alibi_slopes(heads):
    """FaceFormer's `get_slopes`, verbatim in structure."""

    def power_of_2(n):
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        ratio = start
        return [start * ratio**i for i in range(n)]

    if math.log2(heads).is_integer():
        return power_of_2(heads)
    closest = 2 ** math.floor(math.log2(heads))
    return power_of_2(closest) + alibi_slopes(2 * closest)[0::2][: heads - closest]


def _slopes(heads):
    return torch.tensor(alibi_slopes(heads), dtype=torch.float32).view(heads, 1, 1)


def causal_bias(heads, frames, period):
    """`[heads, T, T]`: frame i sees j <= i with -slope * floor((i - j) / period)."""
    i = torch.arange(frames).view(-1, 1)
    j = torch.arange(frames).view(1, -1)
    steps = torch.div(i - j, period, rounding_mode="floor").to(torch.float32)
    bias = -_slopes(heads) * steps
    return torch.where((j <= i).unsqueeze(0), bias, torch.tensor(MASKED, dtype=torch.float32))


def symmetric_bias(heads, frames, period):
    """`[heads, T, T]`: -slope * floor(|i - j| / period), both directions."""
    i = torch.arange(frames).view(-1, 1)
    j = torch.arange(frames).view(1, -1)
    steps = torch.div((i - j).abs(), period, rounding_mode="floor").to(torch.float32)
    return -_slopes(heads) * steps


def alignment_mask(frames):
    """`[T, T]`: decoder frame i attends to memory frame i alone."""
    eye = torch.eye(frames, dtype=torch.bool)
    return torch.where(eye, torch.tensor(0.0), torch.tensor(MASKED)).to(torch.float32)


def periodic_encoding(frames, width, period):
    """`[T, W]`: sinusoidal encoding of `t mod period` (computed in float64,
    stored as float32, as the Rust code does)."""
    position = (torch.arange(frames, dtype=torch.float64) % period).view(-1, 1)
    d = torch.arange(width)
    rate = torch.exp(-math.log(10000.0) * (2 * (d // 2)).to(torch.float64) / width).view(1, -1)
    angle = position * rate
    pe = torch.where((d % 2 == 0).view(1, -1), torch.sin(angle), torch.cos(angle))
    return pe.to(torch.float32)


def padding_bias(lengths, frames):
    """`[B, 1, 1, T]`: keys past a sequence's end are masked."""
    t = torch.arange(frames).view(1, -1)
    n = torch.tensor(lengths).view(-1, 1)
    return torch.where(t < n, torch.tensor(0.0), torch.tensor(MASKED)).to(torch.float32).view(len(lengths), 1, 1, frames)


class Masks:
    """model.rs `Masks`: encoder `[B or 1, H, T, T]`, causal `[1, H, T, T]`,
    alignment `[1, 1, T, T]`."""

    def __init__(self, config, frames, lengths, dtype=torch.float32, device="cpu"):
        heads, period = config["heads"], config["period"]
        encoder = symmetric_bias(heads, frames, period).unsqueeze(0)
        if any(n != frames for n in lengths):
            encoder = encoder + padding_bias(lengths, frames)
        self.encoder = encoder.to(dtype=dtype, device=device)
        self.causal = causal_bias(heads, frames, period).unsqueeze(0).to(dtype=dtype, device=device)
        self.alignment = alignment_mask(frames).view(1, 1, frames, frames).to(dtype=dtype, device=device)


def add_positions(x, period):
    _, frames, width = x.shape
    return x + periodic_encoding(frames, width, period).to(dtype=x.dtype, device=x.device).unsqueeze(0)


def styles(speakers, count, dtype=torch.float32):
    """`[B, speakers]`: one-hot rows, or 1/S everywhere for `None` (the average)."""
    out = torch.zeros(len(speakers), count, dtype=dtype)
    for row, s in enumerate(speakers):
        if s is None:
            out[row] = 1.0 / count
        else:
            out[row, s] = 1.0
    return out


# ----------------------------------------------------------------------------
# Blocks (attention.rs)


class Attention(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        if width % heads:
            raise ValueError(f"attention width {width} is not a multiple of {heads} heads")
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)
        self.heads = heads

    def forward(self, x, memory, bias):
        b, tq, width = x.shape
        tk = memory.shape[1]
        head = width // self.heads

        def split(t, frames):
            return t.view(b, frames, self.heads, head).transpose(1, 2)

        q = split(self.query(x), tq) * (1.0 / math.sqrt(head))
        k = split(self.key(memory), tk)
        v = split(self.value(memory), tk)
        scores = q @ k.transpose(-1, -2) + bias
        weights = torch.softmax(scores, dim=-1)
        mixed = (weights @ v).transpose(1, 2).reshape(b, tq, width)
        return self.out(mixed)


class FeedForward(nn.Module):
    def __init__(self, width, hidden):
        super().__init__()
        self.up = nn.Linear(width, hidden)
        self.down = nn.Linear(hidden, width)

    def forward(self, x):
        return self.down(F.gelu(self.up(x), approximate="none"))


class EncoderLayer(nn.Module):
    def __init__(self, width, heads, hidden):
        super().__init__()
        self.attention_norm = nn.LayerNorm(width, eps=EPS)
        self.attention = Attention(width, heads)
        self.feed_forward_norm = nn.LayerNorm(width, eps=EPS)
        self.feed_forward = FeedForward(width, hidden)

    def forward(self, x, bias):
        h = self.attention_norm(x)
        x = x + self.attention(h, h, bias)
        return x + self.feed_forward(self.feed_forward_norm(x))


class Encoder(nn.Module):
    def __init__(self, count, width, heads, hidden):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(width, heads, hidden) for _ in range(count))
        self.norm = nn.LayerNorm(width, eps=EPS)

    def forward(self, x, bias):
        for layer in self.layers:
            x = layer(x, bias)
        return self.norm(x)


# ----------------------------------------------------------------------------
# Parts (lip_encoder.rs, wrinkle_encoder.rs, expression_encoder.rs, latent.rs,
# decoder.rs)


class LipEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input = nn.Linear(c["features"]["dims"] * c["steps_per_frame"], c["hidden"])
        # Personalised: the speaker style projected and added (`linear_no_bias`).
        self.style = nn.Linear(len(c["speakers"]), c["hidden"], bias=False) if c.get("personalised") else None
        self.encoder = Encoder(c["lip_layers"], c["hidden"], c["heads"], c["feed_forward"])
        self.period = c["period"]

    def forward(self, audio, style, bias):
        x = self.input(audio)
        if self.style is not None:
            x = x + self.style(style).unsqueeze(1)
        return self.encoder(add_positions(x, self.period), bias)


class WrinkleEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.audio = nn.Linear(c["features"]["dims"] * c["steps_per_frame"], c["hidden"])
        # `linear_no_bias` in the Rust code: the lip projection has no bias.
        self.lip = nn.Linear(c["hidden"], c["hidden"], bias=False)
        self.encoder = Encoder(c["wrinkle_layers"], c["hidden"], c["heads"], c["feed_forward"])
        self.period = c["period"]

    def forward(self, audio, lip, bias):
        return self.encoder(add_positions(self.audio(audio) + self.lip(lip), self.period), bias)


class ExpressionEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input = nn.Linear(2 * c["hidden"], c["hidden"])
        self.encoder = Encoder(c["expression_layers"], c["hidden"], c["heads"], c["feed_forward"])
        self.head = nn.Linear(c["hidden"], len(c["expression_names"]))

    def forward(self, lip, wrinkle, bias):
        # No positional encoding here (the Rust code adds none).
        return self.head(self.encoder(self.input(torch.cat([lip, wrinkle], dim=-1)), bias))


class Expression2Latent(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.first = nn.Linear(len(c["expression_names"]), c["hidden"])
        self.second = nn.Linear(c["hidden"], c["hidden"])

    def forward(self, codes):
        return self.second(F.gelu(self.first(codes), approximate="none"))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        w, h = c["hidden"], c["heads"]
        self.self_norm = nn.LayerNorm(w, eps=EPS)
        self.self_attention = Attention(w, h)
        self.cross_norm = nn.LayerNorm(w, eps=EPS)
        self.cross_attention = Attention(w, h)
        self.feed_forward_norm = nn.LayerNorm(w, eps=EPS)
        self.feed_forward = FeedForward(w, c["feed_forward"])

    def forward(self, x, memory, causal, alignment):
        h = self.self_norm(x)
        x = x + self.self_attention(h, h, causal)
        x = x + self.cross_attention(self.cross_norm(x), memory, alignment)
        return x + self.feed_forward(self.feed_forward_norm(x))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        memory_width = 2 * c["hidden"] if c["architecture"] == "gaussian_speech" else c["hidden"]
        self.memory = nn.Linear(memory_width, c["hidden"])
        self.style = nn.Linear(len(c["speakers"]), c["hidden"], bias=False)
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c["decoder_layers"]))
        self.norm = nn.LayerNorm(c["hidden"], eps=EPS)
        self.vertex_mapper = nn.Linear(c["hidden"], vertex_outputs(c))
        # A new vertex mapper starts at zero, as the Rust one (and FaceFormer's).
        nn.init.zeros_(self.vertex_mapper.weight)
        nn.init.zeros_(self.vertex_mapper.bias)
        self.period = c["period"]

    def hidden(self, memory, style, causal, alignment):
        memory = self.memory(memory)
        b, t, w = memory.shape
        queries = self.style(style).unsqueeze(1).expand(b, t, w)
        x = add_positions(queries, self.period)
        for layer in self.layers:
            x = layer(x, memory, causal, alignment)
        return self.norm(x)

    def forward(self, memory, style, causal, alignment):
        return self.vertex_mapper(self.hidden(memory, style, causal, alignment))


class MotionTransformer(nn.Module):
    """model.rs `MotionTransformer`."""

    def __init__(self, config):
        super().__init__()
        check(config)
        self.config = config
        self.full = config["architecture"] == "gaussian_speech"
        self.lip_encoder = LipEncoder(config)
        if self.full:
            self.wrinkle_encoder = WrinkleEncoder(config)
            self.expression_encoder = ExpressionEncoder(config)
            self.expression_latent = Expression2Latent(config)
        self.decoder = Decoder(config)

    def lip_features(self, audio, style, masks):
        return self.lip_encoder(audio, style, masks.encoder)

    def wrinkle_features(self, audio, lip, masks):
        return self.wrinkle_encoder(audio, lip, masks.encoder)

    def expression_codes(self, lip, wrinkle, masks):
        return self.expression_encoder(lip, wrinkle, masks.encoder)

    def decode_hidden(self, lip, codes, style, masks):
        if self.full:
            if codes is None:
                raise ValueError("the GaussianSpeech decoder needs expression codes")
            memory = torch.cat([lip, self.expression_latent(codes)], dim=-1)
        else:
            memory = lip
        return self.decoder.hidden(memory, style, masks.causal, masks.alignment)

    def decode(self, lip, codes, style, masks):
        return self.decoder.vertex_mapper(self.decode_hidden(lip, codes, style, masks))

    def hidden(self, audio, style, masks, return_lip=False):
        """The decoder's output before the vertex mapper, and the codes."""
        lip = self.lip_features(audio, style, masks)
        codes = None
        if self.full:
            wrinkle = self.wrinkle_features(audio, lip, masks)
            codes = self.expression_codes(lip, wrinkle, masks)
        hidden = self.decode_hidden(lip, codes, style, masks)
        return (hidden, codes, lip) if return_lip else (hidden, codes)

    def forward(self, audio, style, masks):
        """Offsets `[B, T, moved * 3]` and codes `[B, T, K]` (or None)."""
        hidden, codes = self.hidden(audio, style, masks)
        return self.decoder.vertex_mapper(hidden), codes


# ----------------------------------------------------------------------------
# The objective (train.rs `Objective::losses`)

LOSS_WEIGHTS = {"vertex": 1.0, "lip": 2.0, "velocity": 2.0, "expression": 10.0, "upper": 1.0}


class VertexSet:
    """Coordinates within a row of moved-vertex offsets, and the expression
    shapes on them in mm `[K, n]` with their float64 Gram matrix."""

    def __init__(self, coordinates, shapes_mm):
        self.coordinates = torch.as_tensor(coordinates, dtype=torch.long)
        self.shapes = shapes_mm.to(torch.float32)
        wide = self.shapes.double()
        self.gram = wide @ wide.t()
        self.count = len(self.coordinates)


class Objective:
    """`shapes` `[K, moved * 3]`, the rig's expression shapes on the moved
    vertices in model units; `lip` and `upper` the moved-vertex positions (0
    based, within the moved vertices) of the lip and upper-face sets; `mm`
    millimetres per unit."""

    def __init__(self, shapes, lip=(), upper=(), mm=1.0, weights=None):
        self.mm = mm
        self.weights = dict(LOSS_WEIGHTS if weights is None else weights)
        width = shapes.shape[1]
        mm_shapes = shapes.to(torch.float32) * mm

        def vertex_set(coordinates):
            if len(coordinates) == 0:
                return None
            index = torch.as_tensor(coordinates, dtype=torch.long)
            return VertexSet(index, mm_shapes[:, index])

        def coordinates_of(vertices):
            return [3 * i + a for i in vertices for a in range(3)]

        self.all = vertex_set(list(range(width)))
        self.lip = vertex_set(coordinates_of(lip))
        self.upper = vertex_set(coordinates_of(upper))

    @staticmethod
    def squared_error(s, mapper, h, w, m):
        """sum_n m_n |h_n A_S - w_n E_S|^2 as a quadratic form, in float64."""
        a = mapper if s.count == mapper.shape[0] else mapper.index_select(0, s.coordinates)
        gram = (a.t() @ a).double()
        cross = (a.t() @ s.shapes.t()).double()
        h, w, m = h.double(), w.double(), m.double()
        predicted = ((h @ gram) * h).sum(1, keepdim=True)
        between = ((h @ cross) * w).sum(1, keepdim=True)
        truth = ((w @ s.gram) * w).sum(1, keepdim=True)
        per_frame = predicted - 2.0 * between + truth
        return (per_frame * m).sum().float()

    def losses(self, vertex_mapper, hidden, codes, weights, mask):
        """The weighted total and each term. `hidden` `[B, T, H]`, `codes` and
        `weights` `[B, T, K]`, `mask` `[B, T, 1]` (1 on real frames)."""
        wt = self.weights
        b, t, _ = hidden.shape
        k = weights.shape[2]
        mapper = torch.cat([vertex_mapper.weight, vertex_mapper.bias.unsqueeze(1)], dim=1) * self.mm
        h = torch.cat([hidden, torch.ones(b, t, 1, dtype=hidden.dtype, device=hidden.device)], dim=2)

        def flat(x, n):
            return x.reshape(b * n, -1)

        h_all, w_all, m_all = flat(h, t), flat(weights, t), flat(mask, t)
        frames = mask.sum()
        terms = {}
        total = torch.zeros((), dtype=torch.float32, device=hidden.device)

        def add(name, value):
            nonlocal total
            terms[name] = value
            if wt[name] != 0.0:
                total = total + value * wt[name]

        def mse(s, h, w, m, count):
            return self.squared_error(s, mapper, h, w, m) / (count * s.count)

        add("vertex", mse(self.all, h_all, w_all, m_all, frames))
        if self.lip is not None:
            add("lip", mse(self.lip, h_all, w_all, m_all, frames))
        if self.upper is not None:
            add("upper", mse(self.upper, h_all, w_all, m_all, frames))
        if t > 1:
            def step(x):
                return x[:, 1:] - x[:, :-1]

            pairs = mask[:, 1:] * mask[:, :-1]
            count = pairs.sum().clamp(min=1.0)
            add("velocity", mse(self.all, flat(step(h), t - 1), flat(step(weights), t - 1), flat(pairs, t - 1), count))
        if codes is not None:
            squared = ((codes - weights) ** 2 * mask).sum()
            add("expression", squared / (frames * k))
        return total, terms


def adamw(model, lr=1e-3, weight_decay=0.01):
    """optim.rs `AdamW`: PyTorch's update, decay on matrices only."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=lr, betas=(0.9, 0.999), eps=1e-8,
    )


def train_step(model, objective, optimiser, audio, style, weights, mask, lengths, clip=1.0):
    """One step of train.rs's loop: forward, losses, backward, clipping, AdamW."""
    masks = Masks(model.config, audio.shape[1], lengths, dtype=audio.dtype, device=audio.device)
    optimiser.zero_grad(set_to_none=True)
    hidden, codes = model.hidden(audio, style, masks)
    total, _ = objective.losses(model.decoder.vertex_mapper, hidden, codes, weights, mask)
    total.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimiser.step()
    return total.detach(), norm


# ----------------------------------------------------------------------------
# Generation (generate.rs)


def windows(frames, window, overlap):
    """generate.rs `windows`: `(first frame, frames)` covering `frames`, all
    of one length, the last ending on the last frame."""
    window = max(window, overlap + 1)
    if frames <= window:
        return [(0, frames)]
    count = -(-(frames - overlap) // (window - overlap))
    n = -(-(frames + (count - 1) * overlap) // count)
    return [(frames - n if i + 1 == count else i * (n - overlap), n) for i in range(count)]


def window_batches(frames, window, overlap, batch):
    """generate.rs `window_batches`: the windows in batches of at most `batch`,
    as even as possible."""
    plan = windows(frames, window, overlap)
    count = -(-len(plan) // max(batch, 1))
    size = -(-len(plan) // count)
    return [plan[i:i + size] for i in range(0, len(plan), size)]


def blend_windows(frames, window, overlap, batch, widths, run):
    """generate.rs `blend_windows`: `run(spans)` gives one `[windows, len,
    width]` tensor per entry of `widths` for a batch of equal windows; windows
    are blended with linear cross-fades."""
    streams = [torch.zeros(frames, w) for w in widths]
    total = torch.zeros(frames)
    for spans in window_batches(frames, window, overlap, batch):
        outputs = run(spans)
        for j, (start, n) in enumerate(spans):
            fade = float(min(overlap, n))
            t = torch.arange(n, dtype=torch.float32)
            rising = ((t + 1.0) / (fade + 1.0)).clamp(max=1.0) if start > 0 else torch.ones(n)
            falling = ((n - t) / (fade + 1.0)).clamp(max=1.0) if start + n < frames else torch.ones(n)
            w = torch.minimum(rising, falling)
            total[start:start + n] += w
            for stream, output in zip(streams, outputs):
                if stream.shape[1]:
                    stream[start:start + n] += w.view(-1, 1) * output[j].reshape(n, -1).float()
    return [stream / total.view(-1, 1) for stream in streams]


def interpolate_linear(values, frames_out):
    """features/interpolate.rs: `[rows, dims]` → `[frames_out, dims]`, linear
    with aligned corners."""
    frames_in = values.shape[0]
    if frames_out > 1:
        position = torch.arange(frames_out, dtype=torch.float64) * (frames_in - 1) / (frames_out - 1)
    else:
        position = torch.zeros(frames_out, dtype=torch.float64)
    lo = position.floor().long().clamp(max=frames_in - 1)
    hi = (lo + 1).clamp(max=frames_in - 1)
    w = (position - lo).to(torch.float32).view(-1, 1)
    return values[lo] * (1.0 - w) + values[hi] * w


def prepare(config, values, frames, mean, std):
    """generate.rs `prepare`: features `[rows, dims]` → the network's input
    `[frames, steps * dims]` (resampled, normalised)."""
    rows = (interpolate_linear(values, frames * config["steps_per_frame"]) - mean) / std
    return rows.reshape(frames, -1)


def generate(model, prepared, frames, speaker=None, window=200, overlap=25, batch=16):
    """generate.rs `generate` (intensity 1, no smoothing): offsets
    `[frames, moved * 3]` and codes `[frames, K]` (empty for FaceFormer).
    As there, windows run in batches, they blend the decoder's output, and the
    (affine) vertex mapper runs once over the whole take."""
    c = model.config
    style = styles([speaker], len(c["speakers"]))
    code_width = len(c["expression_names"]) if model.full else 0

    def run(spans):
        n = spans[0][1]
        masks = Masks(c, n, [n] * len(spans))
        audio = torch.stack([prepared[start:start + n] for start, _ in spans])
        hidden, codes = model.hidden(audio, style.expand(len(spans), -1), masks)
        return [hidden, codes if codes is not None else torch.zeros(len(spans), n, 0)]

    hidden, codes = blend_windows(frames, window, overlap, batch, [c["hidden"], code_width], run)
    return model.decoder.vertex_mapper(hidden), codes


# ----------------------------------------------------------------------------
# Self-test


def selftest():
    torch.manual_seed(0)
    # The Rust unit tests' hand values (attention.rs tests).
    assert alibi_slopes(2) == [1 / 16, 1 / 256]
    assert alibi_slopes(8) == [0.5**i for i in range(1, 9)]
    six = alibi_slopes(6)
    assert six[:4] == [0.25**i for i in range(1, 5)] and six[4:] == [0.5, 0.125], six
    s, m = 1 / 16, MASKED
    head0 = causal_bias(2, 4, 2)[0].flatten().tolist()
    assert head0 == [0, m, m, m, 0, 0, m, m, -s, 0, 0, m, -s, -s, 0, 0], head0
    assert causal_bias(2, 4, 2)[1, 3, 0].item() == -1 / 256
    s1 = alibi_slopes(1)[0]
    assert symmetric_bias(1, 3, 1).flatten().tolist() == [0, -s1, -2 * s1, -s1, 0, -s1, -2 * s1, -s1, 0]
    assert alignment_mask(3).flatten().tolist() == [0, m, m, m, 0, m, m, m, 0]
    pe = periodic_encoding(7, 4, 3)
    assert pe[0].tolist() == [0, 1, 0, 1] and torch.equal(pe[3], pe[0]) and torch.equal(pe[4], pe[1])
    assert abs(pe[1, 2].item() - math.sin(0.01)) < 1e-7 and abs(pe[1, 3].item() - math.cos(0.01)) < 1e-7
    assert windows(10, 200, 25) == [(0, 10)]
    assert windows(10, 4, 1) == [(0, 4), (3, 4), (6, 4)]
    assert windows(11, 4, 1) == [(0, 4), (3, 4), (6, 4), (7, 4)]
    assert windows(250, 200, 25) == [(0, 138), (112, 138)]

    # FaceFormer's init_biased_mask (faceformer.py), -inf as MASKED.
    def init_biased_mask(n_head, max_seq_len, period):
        slopes = torch.Tensor(alibi_slopes(n_head))
        bias = torch.arange(start=0, end=max_seq_len, step=period).unsqueeze(1).repeat(1, period).view(-1) // period
        bias = -torch.flip(bias, dims=[0])
        alibi = torch.zeros(max_seq_len, max_seq_len)
        for i in range(max_seq_len):
            alibi[i, : i + 1] = bias[-(i + 1):]
        alibi = slopes.unsqueeze(1).unsqueeze(1) * alibi.unsqueeze(0)
        mask = (torch.triu(torch.ones(max_seq_len, max_seq_len)) == 1).transpose(0, 1)
        mask = mask.float().masked_fill(mask == 0, MASKED).masked_fill(mask == 1, 0.0)
        return mask.unsqueeze(0) + alibi

    for heads, frames, period in [(4, 50, 25), (6, 30, 7), (2, 12, 5)]:
        ours, theirs = causal_bias(heads, frames, period), init_biased_mask(heads, frames, period)
        seen = ours > MASKED / 2
        assert torch.equal(seen, theirs > MASKED / 2)
        assert torch.allclose(ours[seen], theirs[seen]), (heads, frames, period)

    # The Gram losses against the direct sums over offsets.
    k, moved, hidden = 4, 7, 6
    shapes = torch.randn(k, moved * 3)
    objective = Objective(shapes, lip=[1, 2], upper=[4, 5, 6], mm=10.0)
    mapper = nn.Linear(hidden, moved * 3)
    b, t = 3, 5
    h = torch.randn(b, t, hidden, requires_grad=True)
    codes = torch.randn(b, t, k)
    weights = torch.rand(b, t, k)
    mask = torch.ones(b, t, 1)
    mask[1, 3:] = 0
    mask[2, 1:] = 0
    total, terms = objective.losses(mapper, h, codes, weights, mask)
    predicted = mapper(h) * 10.0
    truth = weights @ shapes * 10.0
    frames = mask.sum()

    def direct(cols, p, q, m, count):
        return (((p[..., cols] - q[..., cols]) ** 2) * m).sum() / (count * len(cols))

    lip = [3 * v + a for v in [1, 2] for a in range(3)]
    upper = [3 * v + a for v in [4, 5, 6] for a in range(3)]
    every = list(range(moved * 3))
    pairs = mask[:, 1:] * mask[:, :-1]
    expected = {
        "vertex": direct(every, predicted, truth, mask, frames),
        "lip": direct(lip, predicted, truth, mask, frames),
        "upper": direct(upper, predicted, truth, mask, frames),
        "velocity": direct(every, predicted[:, 1:] - predicted[:, :-1], truth[:, 1:] - truth[:, :-1], pairs, pairs.sum()),
        "expression": (((codes - weights) ** 2) * mask).sum() / (frames * k),
    }
    for name, value in expected.items():
        assert abs(terms[name].item() - value.item()) <= 1e-4 * max(1.0, abs(value.item())), (name, terms[name], value)
    direct_total = sum(LOSS_WEIGHTS[n] * v for n, v in expected.items())
    (g_gram,) = torch.autograd.grad(total, h, retain_graph=False)
    (g_direct,) = torch.autograd.grad(direct_total, h)
    assert torch.allclose(g_gram, g_direct, rtol=1e-3, atol=1e-4)

    # A forward and a training step of both architectures.
    for arch in ARCHITECTURES:
        c = make_config(arch, dims=6, hidden=16, heads=4, feed_forward=32, lip_layers=1, decoder_layers=1,
                        period=5, expression_names=["a", "b", "c", "d"], speakers=["x", "y"], vertices=moved)
        model = MotionTransformer(c)
        nn.init.normal_(model.decoder.vertex_mapper.weight, std=0.1)
        audio = torch.randn(2, 9, 12)
        style = styles([1, None], 2)
        offsets, codes = model(audio, style, Masks(c, 9, [9, 6]))
        assert offsets.shape == (2, 9, moved * 3) and (codes is None) == (arch == "faceformer")
        # Real frames ignore whatever lies past a sequence's end.
        changed = audio.clone()
        changed[1, 6:] = torch.randn(3, 12)
        offsets2, _ = model(changed, style, Masks(c, 9, [9, 6]))
        assert torch.allclose(offsets[1, :6], offsets2[1, :6], atol=1e-6)
        opt = adamw(model)
        loss, _ = train_step(model, objective, opt, audio, style, weights[:2].repeat(1, 2, 1)[:, :9].contiguous(),
                             torch.ones(2, 9, 1), [9, 9])
        assert torch.isfinite(loss)
        # The windowed generator: one window equals a direct forward.
        with torch.inference_mode():
            prepared = torch.randn(30, 12)
            out, _ = generate(model, prepared, 30, speaker=0, window=200, overlap=25)
            direct_out, _ = model(prepared.unsqueeze(0), styles([0], 2), Masks(c, 30, [30]))
            assert torch.allclose(out, direct_out[0], atol=1e-6)
            blended, _ = generate(model, prepared, 30, speaker=0, window=12, overlap=4)
            assert blended.shape == (30, moved * 3) and torch.isfinite(blended).all()
    print("selftest passed")


if __name__ == "__main__":
    if sys.argv[1:] == ["selftest"]:
        selftest()
    else:
        print(__doc__)
