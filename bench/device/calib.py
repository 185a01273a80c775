"""Calibration measurements of training-step GPU memory, for the developers' dev set.

Copied from ../shared/gpu-truth/calib.py (sha256 983ae3c9d2cc59c1...; ../shared does not
travel to the device machine) for bench/device: only `ruff format` and lint-comment changes,
so `measure()` is the method that produced calib-h200.jsonl.

Runs a grid of small, synthetic training configurations (model family x batch size x
precision x optimizer) and records what the CUDA caching allocator and NVML report.
Each record is one JSON line in $OUT/calib.jsonl, flushed as soon as it is measured,
so a run cut short still returns everything measured before the cut.

Usage on a CUDA machine:  python3 calib.py [--budget-s 200]
Smoke test on CPU:        python3 calib.py --device cpu --smoke
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

try:  # NVML through nvidia-ml-py / pynvml
    import pynvml
except Exception:
    pynvml = None


# ---------------------------------------------------------------- models


def mlp(depth: int, width: int, d_in: int = 784, d_out: int = 10, act=nn.ReLU, p_drop=0.0):
    layers: list[nn.Module] = [nn.Flatten()]
    d = d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), act()]
        if p_drop:
            layers.append(nn.Dropout(p_drop))
        d = width
    layers.append(nn.Linear(d, d_out))
    return nn.Sequential(*layers)


def cifar_cnn(bn: bool = True):
    def block(cin, cout):
        mods = [nn.Conv2d(cin, cout, 3, padding=1)]
        if bn:
            mods.append(nn.BatchNorm2d(cout))
        mods += [nn.ReLU(inplace=True)]
        return mods

    return nn.Sequential(
        *block(3, 64),
        *block(64, 64),
        nn.MaxPool2d(2),
        *block(64, 128),
        *block(128, 128),
        nn.MaxPool2d(2),
        *block(128, 256),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(256, 10),
    )


class TinyUNet(nn.Module):
    def __init__(self, c: int = 32):
        super().__init__()
        self.enc1 = nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU()
        )
        self.enc2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU())
        self.up = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 1, 1))

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        return self.dec(torch.cat([self.up(e2), e1], dim=1))


class EncoderLM(nn.Module):
    def __init__(self, vocab=8192, d=512, heads=8, ff=2048, layers=6, seq=256):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(seq, d)
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.1, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, idx):
        pos = torch.arange(idx.shape[1], device=idx.device)
        return self.head(self.norm(self.enc(self.tok(idx) + self.pos(pos))))


class LSTMLM(nn.Module):
    def __init__(self, vocab=10000, emb=256, hidden=512, layers=2):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.LSTM(emb, hidden, layers, batch_first=True, dropout=0.2)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, idx):
        out, _ = self.rnn(self.emb(idx))
        return self.head(out)


class ConvAudio(nn.Module):
    """1-D convolutions over a raw waveform, as in keyword-spotting models."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(1, 64, 80, stride=4),
            nn.BatchNorm1d(64),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Conv1d(64, 128, 3),
            nn.BatchNorm1d(128),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Conv1d(128, 256, 3),
            nn.BatchNorm1d(256),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(1),
            nn.Flatten(),
            nn.Linear(256, 35),
        )

    def forward(self, x):
        return self.net(x)


class GRUClassifier(nn.Module):
    def __init__(self, vocab=30000, emb=300, hidden=256):
        super().__init__()
        self.emb = nn.Embedding(vocab, emb)
        self.rnn = nn.GRU(emb, hidden, 1, batch_first=True, bidirectional=True)
        self.head = nn.Linear(2 * hidden, 2)

    def forward(self, idx):
        out, _ = self.rnn(self.emb(idx))
        return self.head(out[:, -1])


class CheckpointedEncoderLM(EncoderLM):
    """EncoderLM with activation checkpointing around every encoder layer."""

    def forward(self, idx):
        from torch.utils.checkpoint import checkpoint

        pos = torch.arange(idx.shape[1], device=idx.device)
        h = self.tok(idx) + self.pos(pos)
        for layer in self.enc.layers:
            h = checkpoint(layer, h, use_reentrant=False)
        return self.head(self.norm(h))


def tv(name: str):
    def build():
        import torchvision.models as m

        return getattr(m, name)(weights=None)

    return build


# (family, builder, input kind, per-sample input shape, classes or vocab)
FAMILIES = {
    "mlp_d2_w256": (lambda: mlp(2, 256), "image", (1, 28, 28), 10),
    "mlp_d4_w1024": (lambda: mlp(4, 1024), "image", (1, 28, 28), 10),
    "mlp_d8_w4096_gelu_drop": (
        lambda: mlp(8, 4096, d_in=3072, act=nn.GELU, p_drop=0.1),
        "image",
        (3, 32, 32),
        10,
    ),
    "cifar_cnn_bn": (lambda: cifar_cnn(True), "image", (3, 32, 32), 10),
    "cifar_cnn_nobn": (lambda: cifar_cnn(False), "image", (3, 32, 32), 10),
    "tiny_unet_128": (lambda: TinyUNet(32), "seg", (3, 128, 128), 1),
    "resnet18": (tv("resnet18"), "image", (3, 224, 224), 1000),
    "resnet50": (tv("resnet50"), "image", (3, 224, 224), 1000),
    "mobilenet_v3_small": (tv("mobilenet_v3_small"), "image", (3, 224, 224), 1000),
    "vgg11": (tv("vgg11"), "image", (3, 224, 224), 1000),
    "efficientnet_b0": (tv("efficientnet_b0"), "image", (3, 224, 224), 1000),
    "vit_b_16": (tv("vit_b_16"), "image", (3, 224, 224), 1000),
    "encoder_lm_d512_l6_s256": (lambda: EncoderLM(seq=256), "tokens", (256,), 8192),
    "encoder_lm_d256_l4_s512": (
        lambda: EncoderLM(d=256, heads=4, ff=1024, layers=4, seq=512),
        "tokens",
        (512,),
        8192,
    ),
    "lstm_lm_h512_l2_s64": (lambda: LSTMLM(), "tokens", (64,), 10000),
    "encoder_lm_d512_l6_s256_ckpt": (
        lambda: CheckpointedEncoderLM(seq=256),
        "tokens",
        (256,),
        8192,
    ),
    "conv1d_audio_16k": (lambda: ConvAudio(), "image", (1, 16000), 35),
    "gru_bi_h256_s128": (lambda: GRUClassifier(), "tokens_cls", (128,), 30000),
    "densenet121": (tv("densenet121"), "image", (3, 224, 224), 1000),
    "convnext_tiny": (tv("convnext_tiny"), "image", (3, 224, 224), 1000),
}


# (family, batch, precision, optimizer, mode)
def grid() -> list[tuple[str, int, str, str, str]]:
    g: list[tuple[str, int, str, str, str]] = []
    for fam in ("mlp_d2_w256", "mlp_d4_w1024"):
        for b in (32, 256, 2048):
            g.append((fam, b, "fp32", "adam", "train"))
    g += [("mlp_d8_w4096_gelu_drop", b, "fp32", "adamw", "train") for b in (64, 512)]
    g += [("mlp_d8_w4096_gelu_drop", 512, p, "adamw", "train") for p in ("amp_bf16", "bf16")]
    for fam in ("cifar_cnn_bn", "cifar_cnn_nobn"):
        g += [(fam, b, "fp32", "sgd_momentum", "train") for b in (64, 256, 1024)]
    g += [("cifar_cnn_bn", 256, "amp_fp16", "sgd_momentum", "train")]
    g += [("tiny_unet_128", b, "fp32", "adam", "train") for b in (8, 32)]
    for fam in ("resnet18", "resnet50", "mobilenet_v3_small", "efficientnet_b0"):
        g += [(fam, b, "fp32", "sgd_momentum", "train") for b in (16, 64)]
        g += [
            (fam, 64, "amp_fp16", "sgd_momentum", "train"),
            (fam, 64, "amp_bf16", "sgd_momentum", "train"),
        ]
    g += [("vgg11", b, "fp32", "sgd_momentum", "train") for b in (16, 64)]
    g += [("vit_b_16", b, "fp32", "adamw", "train") for b in (8, 32)]
    g += [("vit_b_16", 32, p, "adamw", "train") for p in ("amp_bf16", "amp_fp16")]
    for opt in ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"):
        g.append(("resnet18", 32, "fp32", opt, "train"))
    g += [
        ("resnet18", 32, "half", "sgd_momentum", "train"),
        ("resnet18", 32, "bf16", "adam", "train"),
    ]
    for fam in ("encoder_lm_d512_l6_s256", "encoder_lm_d256_l4_s512"):
        g += [(fam, b, "fp32", "adamw", "train") for b in (8, 32)]
        g += [(fam, 32, "amp_bf16", "adamw", "train")]
    g += [("lstm_lm_h512_l2_s64", b, "fp32", "sgd", "train") for b in (20, 128)]
    g += [("lstm_lm_h512_l2_s64", 128, "amp_fp16", "adam", "train")]
    g += [("encoder_lm_d512_l6_s256_ckpt", b, "fp32", "adamw", "train") for b in (8, 32)]
    g += [("conv1d_audio_16k", b, "fp32", "adam", "train") for b in (64, 256)]
    g += [("gru_bi_h256_s128", b, "fp32", "adam", "train") for b in (32, 128)]
    g += [("densenet121", b, "fp32", "sgd_momentum", "train") for b in (16, 64)]
    g += [("convnext_tiny", b, "fp32", "adamw", "train") for b in (16, 64)]
    g += [("convnext_tiny", 64, "amp_bf16", "adamw", "train")]
    g += [("resnet50", 64, "fp32", "sgd_momentum", "train_keep_grads")]
    for fam in ("resnet50", "vit_b_16", "encoder_lm_d512_l6_s256", "mlp_d4_w1024"):
        g.append((fam, 64, "fp32", "none", "eval"))
    g.append(("resnet50", 64, "amp_fp16", "none", "eval"))
    return g


# ---------------------------------------------------------------- helpers


def make_optimizer(name: str, params):
    params = list(params)
    if name == "none":
        return None
    return {
        "sgd": lambda: torch.optim.SGD(params, lr=0.01),
        "sgd_momentum": lambda: torch.optim.SGD(params, lr=0.01, momentum=0.9),
        "adam": lambda: torch.optim.Adam(params, lr=1e-3),
        "adamw": lambda: torch.optim.AdamW(params, lr=1e-3),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=1e-3),
        "adagrad": lambda: torch.optim.Adagrad(params, lr=1e-2),
        "adadelta": lambda: torch.optim.Adadelta(params, lr=1.0),
    }[name]()


def make_batch(kind, shape, classes, batch, device, dtype):
    if kind == "tokens_cls":
        x = torch.randint(0, classes, (batch, *shape), device=device)
        y = torch.randint(0, 2, (batch,), device=device)
    elif kind == "tokens":
        x = torch.randint(0, classes, (batch, *shape), device=device)
        y = torch.randint(0, classes, (batch, *shape), device=device)
    elif kind == "seg":
        x = torch.randn(batch, *shape, device=device, dtype=dtype)
        y = torch.rand(batch, 1, *shape[1:], device=device, dtype=dtype)
    else:
        x = torch.randn(batch, *shape, device=device, dtype=dtype)
        y = torch.randint(0, classes, (batch,), device=device)
    return x, y


def loss_fn(kind, out, y):
    if kind == "tokens":
        return F.cross_entropy(out.reshape(-1, out.shape[-1]).float(), y.reshape(-1))
    if kind == "seg":
        return F.binary_cross_entropy_with_logits(out.float(), y.float())
    return F.cross_entropy(out.float(), y)


def tensor_bytes(ts) -> int:
    return sum(t.numel() * t.element_size() for t in ts if torch.is_tensor(t))


class Nvml:
    def __init__(self):
        self.ok = False
        if pynvml is None:
            return
        try:
            pynvml.nvmlInit()
            self.h = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.ok = True
        except Exception as e:
            print("nvml init failed:", e, flush=True)

    def info(self) -> dict:
        if not self.ok:
            return {}
        out = {}
        try:
            m = pynvml.nvmlDeviceGetMemoryInfo(self.h)
            out.update(nvml_total=m.total, nvml_used=m.used)
        except Exception as e:
            out["nvml_mem_error"] = str(e)
        try:
            procs = pynvml.nvmlDeviceGetComputeRunningProcesses(self.h)
            out["nvml_procs"] = [(p.pid, p.usedGpuMemory) for p in procs]
            mine = [p.usedGpuMemory for p in procs if p.pid == os.getpid()]
            out["nvml_proc_used"] = mine[0] if mine else None
        except Exception as e:
            out["nvml_proc_error"] = str(e)
        return out

    def util(self):
        if not self.ok:
            return None
        try:
            u = pynvml.nvmlDeviceGetUtilizationRates(self.h)
            return (u.gpu, u.memory)
        except Exception as e:
            return str(e)


# ---------------------------------------------------------------- measurement


def cleanup(cuda: bool) -> None:
    gc.collect()
    if cuda:
        torch.cuda.synchronize()
        try:  # noqa: SIM105  (cuBLAS/cuBLASLt workspaces live in the caching allocator: free them between configs)
            torch._C._cuda_clearCublasWorkspaces()
        except Exception:
            pass
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def measure(fam, batch, precision, opt_name, mode, device, nvml: Nvml, steps: int = 3) -> dict:
    """One configuration, as a fresh training process would see it.

    Every byte figure is relative to the allocator's allocated bytes at the start (base, about 0
    after cleanup), so cuBLAS workspaces first allocated by this configuration are included.
    warmup_peak: max allocated during step 0 (optimizer state is created there).
    fwd_peak: max allocated from the start of a steady step to the end of its forward pass.
    peak_alloc: max allocated over the steady steps 1..N (forward + backward + optimizer step).
    """
    build, kind, shape, classes = FAMILIES[fam]
    cuda = device == "cuda"
    keep_grads = mode == "train_keep_grads"
    rec: dict = dict(
        suite="calib",
        family=fam,
        batch=batch,
        precision=precision,
        optimizer=opt_name,
        mode=mode,
        input_kind=kind,
        sample_shape=list(shape),
    )
    cleanup(cuda)
    base = torch.cuda.memory_allocated() if cuda else 0
    rec["base_alloc"] = base
    with torch.device(device):  # initialise weights on the device: much faster than on the host
        model = build()
    param_dtype = {"half": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    model = model.to(device=device, dtype=param_dtype)
    model.train(mode != "eval")
    opt = make_optimizer(opt_name, model.parameters())
    amp_dtype = {"amp_fp16": torch.float16, "amp_bf16": torch.bfloat16}.get(precision)
    scaler = (
        torch.amp.GradScaler("cuda")
        if (precision == "amp_fp16" and cuda and mode != "eval")
        else None
    )
    rec["param_count"] = sum(p.numel() for p in model.parameters())
    rec["param_bytes"] = tensor_bytes(model.parameters())
    rec["buffer_bytes"] = tensor_bytes(model.buffers())
    if cuda:
        rec["alloc_after_init"] = torch.cuda.memory_allocated() - base
    in_dtype = param_dtype
    times, fwd_peaks, step_peaks = [], [], []
    for step in range(steps + 1):  # step 0 is the warm-up: it creates optimizer state
        x, y = make_batch(kind, shape, classes, batch, device, in_dtype)
        if cuda:
            torch.cuda.synchronize()
            if step == 1:
                rec["alloc_after_warmup"] = torch.cuda.memory_allocated() - base
                rec["warmup_peak"] = torch.cuda.max_memory_allocated() - base
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        ctx = (
            torch.autocast(device_type=device, dtype=amp_dtype)
            if amp_dtype
            else torch.autocast(device_type=device, enabled=False)
        )
        if mode == "eval":
            with torch.no_grad(), ctx:
                out = model(x)
                loss = loss_fn(kind, out, y)
        else:
            with ctx:
                out = model(x)
                loss = loss_fn(kind, out, y)
            if cuda:
                fwd_peaks.append(torch.cuda.max_memory_allocated() - base)
            if scaler:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            opt.zero_grad(set_to_none=not keep_grads)
        del out, loss, x, y
        if cuda:
            torch.cuda.synchronize()
            step_peaks.append(torch.cuda.max_memory_allocated() - base)
        if step >= 1:
            times.append(time.perf_counter() - t0)
    if opt is not None:
        rec["opt_state_bytes"] = sum(tensor_bytes(s.values()) for s in opt.state.values())
    rec["step_ms_median"] = round(1000 * statistics.median(times), 3)
    if cuda:
        rec["fwd_peak"] = max(fwd_peaks[1:]) if len(fwd_peaks) > 1 else None
        rec["peak_alloc"] = max(step_peaks[1:])
        rec["peak_reserved"] = torch.cuda.max_memory_reserved()
        rec["alloc_after_steps"] = torch.cuda.memory_allocated() - base
        rec.update(nvml.info())
        rec.pop("nvml_procs", None)
    del model, opt, scaler
    cleanup(cuda)
    return rec


def utilization_probe(device, nvml: Nvml, seconds=3.0) -> dict:
    """Sample NVML utilization while idle and while a resnet50 trains flat out."""
    res = {"suite": "util_probe", "idle": [], "busy": []}
    for _ in range(5):
        res["idle"].append(nvml.util())
        time.sleep(0.2)
    build, kind, shape, classes = FAMILIES["resnet50"]
    with torch.device(device):
        model = build()
    opt = make_optimizer("sgd_momentum", model.parameters())
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            res["busy"].append(nvml.util())
            time.sleep(0.25)

    th = threading.Thread(target=sampler)
    th.start()
    t_end = time.time() + seconds
    steps = 0
    while time.time() < t_end:
        x, y = make_batch(kind, shape, classes, 64, device, torch.float32)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        steps += 1
    torch.cuda.synchronize()
    stop.set()
    th.join()
    res["busy_steps"] = steps
    t0 = time.perf_counter()
    for _ in range(200):
        nvml.util()
        nvml.info()
    res["nvml_poll_us"] = round((time.perf_counter() - t0) / 200 * 1e6, 1)
    del model, opt
    gc.collect()
    torch.cuda.empty_cache()
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--smoke", action="store_true", help="tiny batches, one step, on any device")
    ap.add_argument("--budget-s", type=float, default=200.0)
    ap.add_argument("--only", default="", help="comma list of families")
    args = ap.parse_args()
    out_dir = os.environ.get("OUT", "out")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "calib.jsonl" if not args.smoke else "calib-smoke.jsonl")
    cuda = args.device == "cuda"
    nvml = Nvml() if cuda else Nvml.__new__(Nvml)
    if not cuda:
        nvml.ok = False
    t_start = time.time()
    with open(path, "w") as f:

        def emit(rec):
            f.write(json.dumps(rec) + "\n")
            f.flush()

        env = dict(suite="env", torch=torch.__version__, python=sys.version.split()[0])
        if cuda:
            env["pre_init_nvml"] = nvml.info()
            torch.cuda.init()
            torch.ones(1, device="cuda")
            p = torch.cuda.get_device_properties(0)
            env.update(
                gpu=p.name,
                total_memory=p.total_memory,
                sm_count=p.multi_processor_count,
                mem_get_info=torch.cuda.mem_get_info(),
                context_nvml=nvml.info(),
                cudnn=torch.backends.cudnn.version(),
            )
        emit(env)
        print(json.dumps(env), flush=True)
        only = set(filter(None, args.only.split(",")))
        for fam, batch, prec, opt, mode in grid():
            if only and fam not in only:
                continue
            if time.time() - t_start > args.budget_s:
                emit({"suite": "calib", "skipped_for_budget": [fam, batch, prec, opt, mode]})
                continue
            if args.smoke:
                batch = 2
                if prec in ("amp_fp16", "half") and not cuda:
                    prec = "fp32"
            try:
                rec = measure(
                    fam, batch, prec, opt, mode, args.device, nvml, steps=1 if args.smoke else 3
                )
            except torch.cuda.OutOfMemoryError as e:  # type: ignore[attr-defined]
                rec = dict(
                    suite="calib",
                    family=fam,
                    batch=batch,
                    precision=prec,
                    optimizer=opt,
                    mode=mode,
                    error="OOM",
                    detail=str(e)[:200],
                )
                gc.collect()
                torch.cuda.empty_cache()
            except Exception as e:
                rec = dict(
                    suite="calib",
                    family=fam,
                    batch=batch,
                    precision=prec,
                    optimizer=opt,
                    mode=mode,
                    error=type(e).__name__,
                    detail=str(e)[:300],
                )
            rec["t"] = round(time.time() - t_start, 2)
            emit(rec)
            print(
                fam,
                batch,
                prec,
                opt,
                mode,
                rec.get("peak_alloc"),
                rec.get("error", ""),
                rec["t"],
                flush=True,
            )
        if cuda and time.time() - t_start < args.budget_s + 30:
            emit(utilization_probe(args.device, nvml))
    print("done in", round(time.time() - t_start, 1), "s ->", path, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
