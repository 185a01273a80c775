"""Static estimate of the GPU memory one training step takes (pure Python, no torch).

    peak_allocated = weights + optimizer state + library workspaces
                     + max(forward: activations being saved,
                           backward: saved activations still held + gradients born so far,
                           optimizer step: gradients + the optimizer's foreach temporaries)
    peak_reserved  = peak_allocated + caching-allocator rounding and fragmentation
    device_total   = peak_reserved + CUDA context and loaded library kernels

Every term is in bytes and carries a sentence saying how it was computed. The mechanisms and
the constants are those the gpu-truth measurements show (``../shared/gpu-truth/README.md``,
"measured on an H200", torch 2.11 / CUDA 13.0 / cuDNN 9.19): the fixed cuBLAS workspace, the
612 MiB CUDA context, AMP keeping fp32 weights and optimizer state, Adam's one-copy foreach
temporary, the allocator's segment sizes. ``tier`` is always "static": the traced and
measured tiers replace these numbers when they exist.

Inputs are either a :class:`~gpulens.estimate.graph.ForwardTrace` (walked call by call, see
activations.py) or a :class:`ModelCosts` summary (parameter bytes and per-sample saved bytes,
e.g. from the torchvision table), for models whose forward the reader cannot follow.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from gpulens.estimate.activations import (
    PGRAD_KEY,
    Precision,
    StepProfile,
    simulate,
    step_events,
)
from gpulens.estimate.activations import _structure as _structure_of
from gpulens.estimate.graph import ForwardTrace

__all__ = [
    "CUBLAS_WORKSPACE_BYTES",
    "CUDA_CONTEXT_BYTES",
    "MIB",
    "MemoryEstimate",
    "ModelCosts",
    "OptimizerSpec",
    "estimate_training_memory",
    "max_batch_size",
    "optimizer_factors",
    "torchvision_costs",
]

MIB = 1 << 20
# CUDA context as NVML sees it right after torch.cuda.init() (gpu-truth env.context_nvml:
# 641,728,512 bytes = 612 MiB on the H200, driver 580, CUDA 13.0).
CUDA_CONTEXT_BYTES = 612 * MIB
# Library kernels loaded on first use, on top of the context (gpu-truth: nvml_proc_used minus
# peak_reserved is 742 MiB after the first matmul model, 760-790 MiB once convolutions ran).
CUBLAS_LIBRARY_BYTES = 130 * MIB
CUDNN_LIBRARY_BYTES = 20 * MIB
# cuBLAS workspace per thread that runs matmuls, kept in the caching allocator until
# torch._C._cuda_clearCublasWorkspaces(): gpu-truth shows 33 MiB after a no_grad forward and
# 65 MiB after a training step (autograd runs backward on its own thread, with its own cuBLAS
# handle and workspace): 32 MiB per handle (Hopper's default, 8 x 4 MiB) + 1 MiB once.
CUBLAS_WORKSPACE_BYTES = 32 * MIB
CUBLAS_WORKSPACE_EXTRA = 1 * MIB
# Caching allocator (c10/cuda/CUDACachingAllocator.cpp): sizes rounded up to 512 B; requests up
# to 1 MiB come from 2 MiB segments, up to 10 MiB from 20 MiB segments, larger ones get their
# own segment rounded up to 2 MiB.
_ROUND = 512
EVAL_LIVE_FRACTION = 0.09
# Fragmentation of the caching allocator (see _reserved): cached blocks stranded per byte of the
# largest output of a dense convolution that also computes its input's gradient in a convolution
# net's step (the middle of the 6.1-6.5 range measured on an H200), of a stem convolution on the
# input (4.4-5.9), in its no_grad forward, per byte of the largest matmul output beside the
# convolutions, and per byte of the largest activation's segment in nets without convolutions.
CONV_FRAGMENT_BLOCKS = 6.3
CONV_WGRAD_FRAGMENT_BLOCKS = 5.15
CONV_EVAL_FRAGMENT_BLOCKS = 1.5
CONV_MATMUL_BLOCKS = 2.0
NON_CONV_BLOCKS = 0.5
_SMALL = 1 * MIB
_MID = 10 * MIB


def _round(n: int, to: int = _ROUND) -> int:
    return -(-n // to) * to


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer as the reader sees it (class name and the keyword arguments that matter)."""

    name: str = "SGD"
    momentum: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    amsgrad: bool = False
    centered: bool = False
    foreach: bool | None = None
    fused: bool = False
    capturable: bool = False
    history_size: int = 100

    @classmethod
    def from_fact(cls, fact: Mapping[str, Any] | str | None) -> OptimizerSpec | None:
        """``{"class": "AdamW", "lr": ..., "momentum": ..., "foreach": ...}`` (the reader's
        optimizer fact), a bare class name, or the gpu-truth names (``sgd_momentum``)."""
        if fact is None:
            return None
        if isinstance(fact, str):
            low = fact.lower()
            if low in ("none", ""):
                return None
            if low == "sgd_momentum":
                return cls("SGD", momentum=0.9)
            return cls(_canonical(fact))
        name = str(fact.get("class") or fact.get("name") or "SGD")

        def num(key: str, default: float = 0.0) -> float:
            v = fact.get(key)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else default

        def flag(key: str) -> bool | None:
            v = fact.get(key)
            return v if isinstance(v, bool) else None

        return cls(
            _canonical(name),
            momentum=num("momentum"),
            weight_decay=num("weight_decay"),
            nesterov=bool(flag("nesterov")),
            amsgrad=bool(flag("amsgrad")),
            centered=bool(flag("centered")),
            foreach=flag("foreach"),
            fused=bool(flag("fused")),
            capturable=bool(flag("capturable")),
            history_size=int(num("history_size", 100)),
        )


_CANON = {
    n.lower(): n
    for n in (
        "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam",
        "LBFGS", "SparseAdam", "ASGD", "Rprop", "Adafactor", "Lion", "Muon",
    )
}  # fmt: skip


def _canonical(name: str) -> str:
    short = name.rsplit(".", 1)[-1]
    return _CANON.get(short.lower(), short)


def optimizer_factors(opt: OptimizerSpec | None) -> tuple[float, float, str]:
    """(state bytes per trainable parameter byte, foreach temporary per parameter byte, why).

    State: torch.optim's per-parameter buffers (step counters live on the CPU unless
    capturable/fused). Temporary: the largest intermediate list the foreach implementation
    (the default on CUDA) allocates during ``step()``; gpu-truth mlp_d8_w4096 shows AdamW's peak
    at exactly weights + gradients + 2 states + one parameter-sized temporary."""
    if opt is None:
        return 0.0, 0.0, "no optimizer (evaluation)"
    n = opt.name
    if n == "SGD":
        state = 1.0 if opt.momentum else 0.0
        temp = 1.0 if (opt.weight_decay or opt.nesterov) else 0.0
        why = "momentum buffer" if state else "plain SGD keeps no state"
    elif n in ("Adam", "AdamW"):
        state = 3.0 if opt.amsgrad else 2.0
        temp = 1.0
        why = "exp_avg + exp_avg_sq" + (" + max_exp_avg_sq (amsgrad)" if opt.amsgrad else "")
    elif n == "RMSprop":
        state = 1.0 + (1.0 if opt.momentum else 0.0) + (1.0 if opt.centered else 0.0)
        temp = 1.0
        why = (
            "square_avg"
            + (" + momentum_buffer" if opt.momentum else "")
            + (" + grad_avg (centered)" if opt.centered else "")
        )
    elif n == "Adagrad":
        state, temp, why = 1.0, 1.0, "sum of squared gradients (allocated in the constructor)"
    elif n == "Adadelta":
        state, temp, why = 2.0, 2.0, "square_avg + acc_delta; foreach keeps std and delta"
    elif n in ("Adamax", "NAdam", "RAdam"):
        state, temp, why = 2.0, 1.0, "first and second moment buffers"
    elif n == "Rprop":
        state, temp, why = 2.0, 1.0, "prev gradient + per-element step sizes"
    elif n == "ASGD":
        state, temp, why = 1.0, 1.0, "averaged parameters (ax)"
    elif n == "SparseAdam":
        state, temp, why = 2.0, 0.0, "exp_avg + exp_avg_sq"
    elif n == "Lion":
        state, temp, why = 1.0, 1.0, "exp_avg"
    elif n == "Adafactor":
        state, temp, why = 0.05, 1.0, "factored row/column second moments (small)"
    elif n == "LBFGS":
        state = 2.0 * opt.history_size + 3.0
        temp = 1.0
        why = f"{opt.history_size} (direction, step) pairs + flat gradient, direction, previous"
    else:
        state, temp, why = 2.0, 1.0, f"{n} is not modelled; assumed Adam-like (2 buffers)"
    if opt.fused:
        temp = 0.0  # the fused kernel updates in registers
    return state, temp, why


@dataclass(frozen=True)
class ModelCosts:
    """A model known only by its totals (fp32 figures at its reference input).

    ``saved_bytes_per_sample`` includes the input batch, as measured with saved_tensors_hooks;
    ``output_elems_per_sample`` is the logits' size (cross-entropy keeps log-softmax of it);
    ``largest_activation_per_sample`` the largest tensor one op creates (bytes per sample, 0 if
    unknown), ``largest_dense_conv_per_sample`` the largest output of a dense convolution
    (groups 1, a kernel of more than one element; 0 if unknown) and
    ``largest_dense_conv_grad_input_per_sample`` the largest of those whose input requires grad
    (None if unknown): they set the caching allocator's fragmentation (see ``_reserved``).
    """

    name: str
    params: int
    trainable_params: int
    buffer_bytes: int
    saved_bytes_per_sample: int
    input_bytes_per_sample: int
    output_elems_per_sample: int
    param_tensors: int = 0
    uses_matmul: bool = True
    uses_conv: bool = True
    matmul_weight_fraction: float = 1.0
    largest_activation_per_sample: int = 0
    largest_dense_conv_per_sample: int = 0
    largest_dense_conv_grad_input_per_sample: int | None = None
    largest_matmul_per_sample: int | None = None


def torchvision_costs(
    name: str, num_classes: int | None = None, input_size: tuple[int, int, int] | None = None
) -> ModelCosts | None:
    """``models.<name>(num_classes=...)`` at ``input_size`` (C, H, W) from the torchvision table.

    Saved bytes scale with the pixel count when the input differs from the table's (conv nets
    keep activations per pixel; ViT-like models only accept their own size and keep theirs)."""
    from gpulens.estimate.torchvision_models import lookup_model

    m = lookup_model(name)
    if m is None:
        return None
    classes = num_classes or m.num_classes
    params = m.params_for(classes)
    if params is None:
        params = m.params
    c, h, w = input_size or m.input_size
    _, ref_h, ref_w = m.input_size
    ratio = 1.0 if m.fixed_input_size else (h * w) / (ref_h * ref_w)
    return ModelCosts(
        name=name,
        params=params,
        trainable_params=params - (m.params - m.trainable_params),
        buffer_bytes=m.buffer_bytes,
        saved_bytes_per_sample=int(m.saved_bytes_per_sample * ratio),
        input_bytes_per_sample=c * h * w * 4,
        output_elems_per_sample=classes,
        largest_activation_per_sample=int(m.largest_activation_bytes_per_sample * ratio),
        largest_dense_conv_per_sample=int(m.largest_dense_conv_bytes_per_sample * ratio),
        largest_dense_conv_grad_input_per_sample=(
            None
            if m.largest_dense_conv_grad_input_bytes_per_sample is None
            else int(m.largest_dense_conv_grad_input_bytes_per_sample * ratio)
        ),
        largest_matmul_per_sample=(
            None
            if m.largest_linear_bytes_per_sample is None
            else int(m.largest_linear_bytes_per_sample * (1.0 if m.fixed_input_size else ratio))
        ),
    )


@dataclass
class MemoryEstimate:
    """Bytes of one training step; ``how`` explains each term, ``phases`` the candidates."""

    tier: str
    batch_size: int
    precision: str
    optimizer: str | None
    weights: int
    gradients: int
    optimizer_state: int
    activations: int
    workspace: int
    peak_allocated: int
    peak_reserved: int
    cuda_context: int
    device_total: int
    eval_peak_allocated: int
    peak_phase: str
    # what the peak is made of (sums to peak_allocated): weights, optimizer_state, workspace,
    # gradients (parameter gradients live at that moment), activations (saved tensors and
    # activation gradients live then), transient (the op's workspace, temporaries, casts)
    peak_breakdown: dict[str, int] = field(default_factory=dict)
    phases: dict[str, int] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    complete: bool = True
    reasons: list[str] = field(default_factory=list)
    #: DDP's allreduce buckets (a second copy of the gradients; 0 without DDP)
    communication: int = 0
    #: The estimator options that produced this estimate (``keep_grads``, ``ddp_buckets``; only
    #: those set), so a rerun at another batch size or precision is the same script's.
    options: dict[str, bool] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The ``memory`` object of ``gpulens analyze --json`` (issue 3)."""
        return {
            "tier": self.tier,
            "batch_size": self.batch_size,
            "precision": self.precision,
            "optimizer": self.optimizer,
            "weights": self.weights,
            "gradients": self.gradients,
            "optimizer_state": self.optimizer_state,
            "activations": self.activations,
            "workspace": self.workspace,
            "communication": self.communication,
            "peak_allocated": self.peak_allocated,
            "peak_reserved": self.peak_reserved,
            "cuda_context": self.cuda_context,
            "device_total": self.device_total,
            "eval_peak_allocated": self.eval_peak_allocated,
            "peak_phase": self.peak_phase,
            "peak_breakdown": dict(self.peak_breakdown),
            "complete": self.complete,
            "reasons": list(self.reasons),
            "how": dict(self.how),
        }


@dataclass
class _Part:
    """One model's contribution (a GAN has two)."""

    weights: int
    trainable_bytes: int
    param_tensors: int
    profile: StepProfile
    complete: bool
    reasons: list[str]


def _param_sums(trace: ForwardTrace, fb: int) -> tuple[int, int, int]:
    """(weight bytes rounded per tensor, trainable bytes, trainable tensors), cached."""
    key = ("param_sums", fb, len(trace.calls))
    hit = trace.cache.get(key)
    if hit is not None:
        sums: tuple[int, int, int] = hit
        return sums
    params = trace.param_tensors()
    weights = sum(_round(t.nbytes(fb)) for t in params)
    trainable = sum(t.nbytes(fb) for t in params if not t.buffer and t.requires_grad)
    n_trainable = sum(1 for t in params if not t.buffer and t.requires_grad)
    trace.cache[key] = (weights, trainable, n_trainable)
    return weights, trainable, n_trainable


def _unknown_params(trace: ForwardTrace) -> list[str]:
    return [f"parameters unknown: {why}" for why in trace.unknown_params()]


def _from_trace(trace: ForwardTrace, batch: int, prec: Precision, train: bool) -> _Part:
    weights, trainable, n_trainable = _param_sums(trace, prec.float_bytes)
    prof = simulate(trace, batch, prec, train=train)
    reasons = list(trace.reasons)
    if prof.unknown_ops:
        reasons.append("ops without a memory rule (assumed to keep their output): "
                       + ", ".join(prof.unknown_ops))  # fmt: skip
    complete = trace.complete and not prof.unknown_ops
    unknown = _unknown_params(trace)
    if unknown:  # parameters not known statically: the weights would be undercounted
        complete = False
        reasons.extend(unknown)
    return _Part(weights, trainable, n_trainable, prof, complete, reasons)


def _from_costs(m: ModelCosts, batch: int, prec: Precision, train: bool) -> _Part:
    fb = prec.float_bytes
    weights = m.params * fb + m.buffer_bytes + m.param_tensors * _ROUND // 2
    trainable = m.trainable_params * fb
    p = StepProfile()
    # fp32 reference figures scale with the element size; under autocast the conv/matmul
    # results (nearly all saved activations of a convnet or a ViT) are fp16/bf16, the input the
    # first layer keeps is an fp16 copy, and autocast keeps fp16 copies of the matmul weights.
    scale = (prec.autocast_bytes or fb) / 4
    inputs = m.input_bytes_per_sample * batch * fb // 4
    saved = int((m.saved_bytes_per_sample - m.input_bytes_per_sample) * batch * scale)
    if prec.autocast_bytes:
        saved += int(m.input_bytes_per_sample * batch * scale)
        p.autocast_weight_copies = int(m.params * m.matmul_weight_fraction * prec.autocast_bytes)
    logits = m.output_elems_per_sample * batch * (prec.autocast_bytes or fb)
    logp = m.output_elems_per_sample * batch * 4  # log_softmax in fp32 under autocast
    p.inputs = inputs
    p.saved = inputs + saved + logits + logp + p.autocast_weight_copies
    p.fwd_peak = p.saved
    p.fwd_peak_at = "end of forward (loss)"
    # Backward upper bound: parameter gradients are born while most saved activations are still
    # held (gpu-truth vgg11: its 472 MiB classifier gradients on top of all activations), plus
    # the loss's two logit-sized gradients.
    p.param_grads = trainable
    p.bwd_peak = p.saved + trainable + 2 * m.output_elems_per_sample * batch * 4
    p.bwd_peak_at = "start of backward (all gradients born, activations held: upper bound)"
    p.bwd_peak_param_grads = trainable
    p.bwd_peak_transient = 2 * m.output_elems_per_sample * batch * 4
    # no_grad keeps only the few largest live tensors (a block's input, output, skip and the
    # conv workspace); the table has no per-layer sizes, so this is a rough fraction of the
    # training activations: gpu-truth shows 0.12 for resnet50 and 0.067 for ViT-B/16, and the
    # fallback takes their geometric middle. A per-model measured figure should replace it.
    p.eval_peak = inputs + int(m.saved_bytes_per_sample * batch * scale * EVAL_LIVE_FRACTION)
    # autocast's weight cache lives for the whole forward, under no_grad too (the weights
    # still require grad, which is what the cache keys on)
    p.eval_peak += logits + p.autocast_weight_copies
    p.held_after_backward = inputs + logits
    p.uses_matmul, p.uses_conv = m.uses_matmul, m.uses_conv
    p.largest_activation = int(m.largest_activation_per_sample * batch * scale)
    # a table without the dense-convolution figure: its largest activation stands in (the
    # conservative side: it is at least as large)
    dense = m.largest_dense_conv_per_sample or (
        m.largest_activation_per_sample if m.uses_conv else 0
    )
    p.largest_dense_conv = int(dense * batch * scale)
    # unknown: the largest dense convolution is taken to compute its input's gradient too (the
    # conservative side: more stranded blocks)
    gi = m.largest_dense_conv_grad_input_per_sample
    p.largest_dense_conv_grad_input = int((dense if gi is None else gi) * batch * scale)
    mm = m.largest_matmul_per_sample
    if mm is None:  # unknown: whatever is larger than the dense convolutions' outputs
        mm = max(0, m.largest_activation_per_sample - dense)
    p.largest_matmul = int(mm * batch * scale)
    why = "activations from the model's measured totals, not a per-layer walk"
    return _Part(weights, trainable, m.param_tensors, p, True, [why])


def estimate_training_memory(
    model: ForwardTrace | ModelCosts | Sequence[ForwardTrace | ModelCosts],
    batch_size: int,
    precision: str = "fp32",
    optimizer: Mapping[str, Any] | OptimizerSpec | str | Sequence[Any] | None = "Adam",
    *,
    keep_grads: bool = False,
    ddp_buckets: bool = False,
    train: bool = True,
    allocator_replay: bool = False,
) -> MemoryEstimate:
    """Memory of one steady-state training step (after the first: optimizer state exists).

    ``model`` may be a list (a GAN's generator and discriminator, each with its optimizer:
    pass ``optimizer`` as a list of the same length); their weights, gradients and states add
    up, and their steps run one after the other, so the transient peaks do not add.
    ``keep_grads``: ``zero_grad(set_to_none=False)`` keeps gradients allocated between steps.
    ``ddp_buckets``: the model is wrapped in ``DistributedDataParallel`` (default
    ``gradient_as_bucket_view=False``): its reducer holds flat allreduce buckets the size of the
    gradients from construction on (per rank; NCCL's own buffers are outside PyTorch's
    allocator and not counted).
    ``train=False`` gives the ``torch.no_grad()`` evaluation footprint.
    ``allocator_replay``: derive reserved bytes by replaying the step through a model of the
    caching allocator (several ms; the default coarse model takes microseconds).
    """
    prec = Precision.parse(precision)
    models: list[ForwardTrace | ModelCosts] = (
        list(model) if isinstance(model, (list, tuple)) else [model]  # type: ignore[list-item]
    )
    if isinstance(optimizer, (list, tuple)):
        opts = [_opt(o) for o in optimizer]
    else:
        single = cast("Mapping[str, Any] | OptimizerSpec | str | None", optimizer)
        opts = [_opt(single) for _ in models]  # each model with the same kind of optimizer
    parts = [
        _from_trace(m, batch_size, prec, train)
        if isinstance(m, ForwardTrace)
        else _from_costs(m, batch_size, prec, train)
        for m in models
    ]
    how: dict[str, str] = {}
    weights = sum(p.weights for p in parts)
    fb = prec.float_bytes
    how["weights"] = (
        f"parameters and buffers in {'fp32' if fb == 4 else prec.name} "
        f"({fb} bytes each), each tensor rounded to 512 B"
        + ("; autocast keeps the fp32 weights (it casts per op)" if prec.autocast_bytes else "")
    )
    gradients = sum(p.trainable_bytes for p in parts) if train else 0
    how["gradients"] = "one gradient per trainable parameter, in the parameters' dtype"
    state = 0
    temps: list[int] = []
    notes: list[str] = []
    for p, o in zip(parts, opts, strict=False):
        sf, tf, why = optimizer_factors(o if train else None)
        s = int(p.trainable_bytes * sf)
        if o is not None and (o.fused or o.capturable) and o.name in ("Adam", "AdamW"):
            s += p.param_tensors * _ROUND  # GPU step counters
        state += s
        t = int(p.trainable_bytes * tf)
        if o is not None and o.foreach is False:
            t = int(tf * p.trainable_bytes / max(1, p.param_tensors))  # one tensor at a time
        temps.append(t)
        if o is not None:
            notes.append(f"{o.name}: {why} ({sf:g}x trainable bytes)")
    if not train:
        state = 0
    how["optimizer_state"] = "; ".join(notes) or "no optimizer"
    profs = [p.profile for p in parts]
    uses_matmul = any(pr.uses_matmul for pr in profs)
    uses_conv = any(pr.uses_conv for pr in profs)
    threads = 2 if train else 1
    workspace = threads * CUBLAS_WORKSPACE_BYTES + CUBLAS_WORKSPACE_EXTRA if uses_matmul else 0
    how["workspace"] = (
        f"cuBLAS workspace, 32 MiB per thread running matmuls ({threads}: forward"
        + (" and autograd's backward thread" if train else "")
        + ") + 1 MiB, measured on an H200"
        if uses_matmul
        else "no matmul: no cuBLAS workspace (cuDNN's conv workspace is transient)"
    )
    activations = sum(pr.saved for pr in profs)
    how["activations"] = (
        "tensors autograd keeps for backward at the end of the forward (per-op rules, each "
        "storage once), including the input batch"
        if train
        else "no_grad: nothing is kept; the largest live tensors during the forward"
    )
    communication = gradients if ddp_buckets and train else 0
    if communication:
        how["communication"] = (
            "DistributedDataParallel's allreduce buckets: the gradients' bytes again, held from "
            "the wrapping on (gradient_as_bucket_view=True shares them); NCCL's own buffers "
            "are outside PyTorch's allocator and not counted"
        )
    base = weights + state + workspace + communication
    grads_between = gradients if keep_grads else 0
    phases: dict[str, int] = {}
    parts_of: dict[str, tuple[int, int, int]] = {}  # phase -> (gradients, activations, transient)
    # each model's step runs on its own; the others' persistent state is in `base`
    for k, (pt, pr) in enumerate(zip(parts, profs, strict=True)):
        tag = f"model {k + 1} " if len(parts) > 1 else ""
        if not train:
            name = f"{tag}forward (no_grad)"
            phases[name] = base + pr.eval_peak
            parts_of[name] = (0, pr.eval_peak, 0)
            continue
        other_grads = grads_between - (pt.trainable_bytes if keep_grads else 0)
        name = f"{tag}forward: {pr.fwd_peak_at}"
        phases[name] = base + grads_between + pr.fwd_peak
        parts_of[name] = (grads_between, pr.fwd_peak - pr.fwd_peak_transient, pr.fwd_peak_transient)
        name = f"{tag}backward: {pr.bwd_peak_at}"
        phases[name] = base + other_grads + pr.bwd_peak
        g = other_grads + pr.bwd_peak_param_grads
        parts_of[name] = (g, pr.bwd_peak - pr.bwd_peak_param_grads - pr.bwd_peak_transient,
                          pr.bwd_peak_transient)  # fmt: skip
        name = f"{tag}optimizer step"
        phases[name] = base + gradients + temps[k] + pr.held_after_backward
        parts_of[name] = (gradients, pr.held_after_backward, temps[k])
    peak_phase = max(phases, key=lambda k: phases[k])
    peak = phases[peak_phase]
    g_at, a_at, t_at = parts_of[peak_phase]
    breakdown = {
        "weights": weights,
        "optimizer_state": state,
        "workspace": workspace,
        "gradients": g_at,
        "activations": a_at,
        "transient": t_at,
    }
    if communication:
        breakdown["communication"] = communication
    eval_peak = weights + (CUBLAS_WORKSPACE_BYTES + CUBLAS_WORKSPACE_EXTRA if uses_matmul else 0)
    # A training walk's live bytes hold what autograd saves; under no_grad nothing is saved, so
    # the eval footprint of a traced model is its own walk with train=False.
    eval_profs = [
        _from_trace(m, batch_size, prec, False).profile
        if train and isinstance(m, ForwardTrace)
        else pr
        for m, pr in zip(models, profs, strict=True)
    ]
    eval_peak += max((pr.eval_peak for pr in eval_profs), default=0)
    traces = [m for m in models if isinstance(m, ForwardTrace)]
    if allocator_replay and len(traces) == len(models):
        factors = [optimizer_factors(o if train else None)[:2] for o in opts]
        simulated = _simulated_reserved(
            traces, batch_size, prec, factors, workspace + communication, keep_grads, train
        )
        # cuDNN picks conv/RNN workspaces at run time, at moments the replay cannot see, and
        # their churn fragments the cache far more than the replay shows (gpu-truth cifar_cnn,
        # resnet18, conv1d: reserved 1.6-2.2x allocated): the coarse fragmentation term is
        # kept as a floor.
        floor, _ = _reserved(peak, base, profs, uses_conv, train)
        reserved = max(simulated, floor)
        rhow = (
            "the step's allocations and frees replayed through a model of PyTorch's caching "
            "allocator (512 B rounding, 2 MiB small / 20 MiB large segments, best-fit reuse "
            "and splitting, two steady steps), at least the coarse fragmentation term"
        )
    else:
        reserved, rhow = _reserved(peak, base, profs, uses_conv, train)
    how["peak_allocated"] = f"max over the step's phases: {peak_phase}"
    how["peak_reserved"] = rhow
    context = (
        CUDA_CONTEXT_BYTES
        + (CUBLAS_LIBRARY_BYTES if uses_matmul else 0)
        + (CUDNN_LIBRARY_BYTES if uses_conv else 0)
    )
    how["cuda_context"] = (
        "CUDA context 612 MiB (NVML, measured on an H200)"
        + (" + cuBLAS kernels 130 MiB" if uses_matmul else "")
        + (" + cuDNN kernels 20 MiB" if uses_conv else "")
    )
    how["device_total"] = "peak_reserved + cuda_context: what nvidia-smi shows for the process"
    reasons = [r for p in parts for r in p.reasons]
    return MemoryEstimate(
        tier="static",
        batch_size=batch_size,
        precision=prec.name,
        optimizer=", ".join(o.name for o in opts if o is not None) or None,
        weights=weights,
        gradients=gradients,
        optimizer_state=state,
        activations=activations,
        workspace=workspace,
        communication=communication,
        options={k: v for k, v in (("keep_grads", keep_grads), ("ddp_buckets", ddp_buckets)) if v},
        peak_allocated=peak,
        peak_reserved=reserved,
        cuda_context=context,
        device_total=reserved + context,
        eval_peak_allocated=eval_peak,
        peak_phase=peak_phase,
        peak_breakdown=breakdown,
        phases=phases,
        how=how,
        complete=all(p.complete for p in parts),
        reasons=reasons,
    )


def _opt(o: Mapping[str, Any] | OptimizerSpec | str | None) -> OptimizerSpec | None:
    if isinstance(o, OptimizerSpec) or o is None:
        return o
    return OptimizerSpec.from_fact(o)


def _segment(n: int) -> int:
    """Bytes the caching allocator reserves for a request of ``n`` bytes on its own."""
    if n <= _SMALL:
        return 2 * MIB
    if n < _MID:
        return 20 * MIB
    return _round(n, 2 * MIB)


def _reserved(
    peak: int, base: int, profs: Sequence[StepProfile], uses_conv: bool, train: bool = True
) -> tuple[int, str]:
    """Reserved bytes: the allocated peak rounded to segments, plus the blocks the caching
    allocator holds but cannot hand out at the peak.

    Convolution nets: cuDNN runs a dense convolution (groups 1, a kernel of more than one
    element) with workspace-hungry algorithms (implicit GEMM with precomputed indices, FFT,
    Winograd) and asks for a workspace of about input + output bytes at every such convolution,
    forward and backward (twice there: data and weight gradients); backward also asks for
    activation-gradient buffers. All are large-pool blocks (over 10 MiB at training batches:
    their own segments, sized to the request) of sizes that differ from the freed activations',
    so best-fit reuse splits bigger cached blocks for smaller requests and strands a whole
    number of blocks of the largest such tensor: the stranded bytes grow with the largest
    output of a dense convolution, not with the total. Depthwise and 1x1 convolutions run as
    direct kernels or one GEMM with little workspace and add no such churn. A stem convolution
    on the input batch (which does not require grad) has no data-gradient pass in backward: no
    workspace for it and no gradient buffer of its input, so fewer blocks are stranded per byte
    of its output. gpu-truth (measured on an H200), reserved minus allocated per sample over
    the largest dense-conv output per sample, where that convolution also computes its input's
    gradient: cifar_cnn 6.1-6.5, tiny_unet 6.4 (:data:`CONV_FRAGMENT_BLOCKS`, the middle);
    where it is a stem: vgg11 4.4, mobilenet_v3_small 4.5, efficientnet_b0 5.0, conv1d 5.4,
    resnet18 5.6, densenet121 5.8, resnet50 5.9 (:data:`CONV_WGRAD_FRAGMENT_BLOCKS`, the
    middle); the larger of the two terms is taken (a stem's output is usually the largest, the
    next dense convolution's a quarter or half of it). Over the largest activation of any op,
    efficientnet_b0 was 1.7 and convnext_tiny 3.3: their largest tensors come from 1x1
    convolutions and Linear layers. A no_grad forward has no backward workspaces or gradients:
    :data:`CONV_EVAL_FRAGMENT_BLOCKS` of the largest activation of any op (gpu-truth eval rows:
    resnet50 0.9 fp32 / 1.5 fp16, ViT-B/16 1.2). A convnet that also runs Linear layers on its
    feature maps strands blocks of their outputs too (cuBLAS on a reshaped 4-D input, with
    LayerNorm and permute copies around it): :data:`CONV_MATMUL_BLOCKS` of the largest matmul
    output (convnext_tiny's channels-last MLP: 2.8 left over after the convolutions' term;
    ViT-B/16's MLP: 0.7; 2 keeps Linear-heavy convnets from being over-promised).

    Other nets (matmul, RNN): :data:`NON_CONV_BLOCKS` x the largest activation's segment.
    gpu-truth, (reserved - allocated) slope over the largest activation (the logits) per
    sample: encoder_lm d256 0.73, lstm_lm 0.76, and 0 for encoder_lm d512, its checkpointed
    variant and the GRU (their reserved line grows slower than the allocated one: the cached
    blocks of the smaller batch are reused); 0.5 is the middle."""
    largest = max((pr.largest_activation for pr in profs), default=0)
    dense = max((pr.largest_dense_conv for pr in profs), default=0)
    transient = max(0, peak - base)
    if uses_conv and largest == 0 and transient:
        # a model known by totals without its largest activation (older table): the coarse
        # rule, 45% of the step's transient bytes (1.45x: the middle of the measured range)
        extra = int(transient * 0.45)
        return _round(peak + extra, 2 * MIB), (
            "allocated peak in 2 MiB segments + 45% of the step's transient bytes "
            "(convolutions fragment the cache; the model's largest activation is unknown)"
        )
    if uses_conv and not train:
        extra = int(CONV_EVAL_FRAGMENT_BLOCKS * largest)
        return _round(peak + extra, 2 * MIB), (
            f"allocated peak in 2 MiB segments + {CONV_EVAL_FRAGMENT_BLOCKS:g} blocks of the "
            "largest activation (a no_grad forward's conv workspaces, measured on an H200)"
        )
    if uses_conv and dense:
        dense_gi = max((pr.largest_dense_conv_grad_input for pr in profs), default=0)
        full = CONV_FRAGMENT_BLOCKS * dense_gi
        stem = CONV_WGRAD_FRAGMENT_BLOCKS * dense
        extra = int(max(full, stem))
        mm = max((pr.largest_matmul for pr in profs), default=0)
        other = int(CONV_MATMUL_BLOCKS * mm)
        extra += other
        which = (
            f"{CONV_FRAGMENT_BLOCKS:g} blocks of the largest output of a dense convolution that "
            "computes its input's gradient (cuDNN workspaces and gradients of other sizes strand "
            "cached blocks; the middle of the range measured on an H200)"
            if full >= stem
            else f"{CONV_WGRAD_FRAGMENT_BLOCKS:g} blocks of the largest output of a dense "
            "convolution, a stem on the input (its backward computes only the weights' "
            "gradient; the middle of the range measured on an H200)"
        )
        return _round(peak + extra, 2 * MIB), (
            f"allocated peak in 2 MiB segments + {which}"
            + (f" + {CONV_MATMUL_BLOCKS:g} blocks of the largest matmul output" if other else "")
        )
    extra = int(NON_CONV_BLOCKS * _segment(largest))
    return _round(peak + extra, 2 * MIB), (
        f"allocated peak in 2 MiB segments + {NON_CONV_BLOCKS:g} x the largest activation's "
        "segment (little fragmentation without convolutions, measured on an H200)"
    )


class CachingAllocator:
    """PyTorch's CUDA caching allocator reduced to what decides reserved bytes
    (c10/cuda/CUDACachingAllocator.cpp, default settings): requests rounded up to 512 B; blocks
    up to 1 MiB come from a small pool of 2 MiB segments, larger ones from a large pool (a new
    segment is 20 MiB for requests under 10 MiB, else the request rounded up to 2 MiB); the
    best-fitting cached free block is reused and split when the rest is worth keeping (512 B
    small, over 1 MiB large); freed neighbours in a segment merge; segments are never returned
    (no empty_cache), so reserved only grows."""

    def __init__(self) -> None:
        self.reserved = 0
        self._free: tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]] = ([], [])
        self._starts: list[dict[int, int]] = []  # per segment: free block offset -> size
        self._ends: list[dict[int, int]] = []  # per segment: free block end -> offset
        self._small: list[bool] = []
        self._blocks: dict[int, tuple[int, int, int]] = {}

    def malloc(self, key: int, nbytes: int) -> None:
        size = _round(max(nbytes, 1))
        small = size <= _SMALL
        pool = self._free[0 if small else 1]
        i = bisect.bisect_left(pool, (size, -1, -1))
        if i < len(pool):
            bsize, seg, off = pool.pop(i)
            del self._starts[seg][off]
            del self._ends[seg][off + bsize]
        else:
            seg_size = 2 * MIB if small else (20 * MIB if size < _MID else _round(size, 2 * MIB))
            seg = len(self._starts)
            self._starts.append({})
            self._ends.append({})
            self._small.append(small)
            self.reserved += seg_size
            bsize, off = seg_size, 0
        rest = bsize - size
        if rest >= (_ROUND if small else _SMALL + 1):
            self._insert(seg, off + size, rest)
        else:
            size = bsize
        old = self._blocks.pop(key, None)
        if old is not None:  # a key reused without a free: keep both (distinct tensors)
            self._blocks[~key] = old
        self._blocks[key] = (seg, off, size)

    def free(self, key: int) -> None:
        blk = self._blocks.pop(key, None)
        if blk is None:
            return
        seg, off, size = blk
        starts, ends = self._starts[seg], self._ends[seg]
        nxt = starts.get(off + size)
        if nxt is not None:
            self._remove(seg, off + size, nxt)
            size += nxt
        prev = ends.get(off)
        if prev is not None:
            psize = off - prev
            self._remove(seg, prev, psize)
            off, size = prev, size + psize
        self._insert(seg, off, size)

    def free_all(self, keep: Callable[[int], bool]) -> None:
        for key in [k for k in self._blocks if not keep(k)]:
            self.free(key)

    def _insert(self, seg: int, off: int, size: int) -> None:
        bisect.insort(self._free[0 if self._small[seg] else 1], (size, seg, off))
        self._starts[seg][off] = size
        self._ends[seg][off + size] = off

    def _remove(self, seg: int, off: int, size: int) -> None:
        pool = self._free[0 if self._small[seg] else 1]
        i = bisect.bisect_left(pool, (size, seg, off))
        pool.pop(i)
        del self._starts[seg][off]
        del self._ends[seg][off + size]


_PERSISTENT = -(1 << 50)  # keys at or below: weights, optimizer state, cuBLAS workspace
_OPT_TEMP = -(1 << 49)  # keys at or below (and above _PERSISTENT): optimizer temporaries


def _simulated_reserved(
    traces: Sequence[ForwardTrace],
    batch: int,
    prec: Precision,
    factors: Sequence[tuple[float, float]],
    workspace: int,
    keep_grads: bool,
    train: bool,
) -> int:
    """Reserved bytes after two steady training steps replayed through the allocator model."""
    alloc = CachingAllocator()
    key = _PERSISTENT
    fb = prec.float_bytes
    walks = []
    for trace, (state_f, temp_f) in zip(traces, factors, strict=True):
        st = _structure_of(trace)
        for n, t in zip(st.weight_numel, st.trainable_numel, strict=True):
            if n:
                alloc.malloc(key, n * fb)  # parameters, one block per layer
                key -= 1
            whole, part = int(state_f), state_f - int(state_f)
            for share in [1.0] * whole + ([part] if part else []):
                if t:
                    alloc.malloc(key, int(t * fb * share))  # optimizer state buffers
                    key -= 1
        _, events = step_events(trace, batch, prec, train=train)
        walks.append((events, temp_f, st))
    if workspace:
        alloc.malloc(key, workspace)
    for step in range(2):
        for events, temp_f, st in walks:
            for k, b in events:
                if keep_grads and step and PGRAD_KEY <= k < PGRAD_KEY + (1 << 40):
                    continue  # gradients kept between steps accumulate in place
                if b:
                    alloc.malloc(k, b)
                else:
                    alloc.free(k)
            if train and temp_f:
                tkey = _OPT_TEMP
                for t in st.trainable_numel:  # the optimizer's foreach temporaries
                    if t:
                        alloc.malloc(tkey, int(t * fb * temp_f))
                        tkey -= 1
                for k in range(_OPT_TEMP, tkey, -1):
                    alloc.free(k)

        def persists(k: int) -> bool:
            grad = PGRAD_KEY <= k < PGRAD_KEY + (1 << 40)
            return k <= _PERSISTENT or (keep_grads and grad)

        alloc.free_all(persists)
    return alloc.reserved


def max_batch_size(
    model: ForwardTrace | ModelCosts | Sequence[ForwardTrace | ModelCosts],
    usable_bytes: int,
    precision: str = "fp32",
    optimizer: Mapping[str, Any] | OptimizerSpec | str | Sequence[Any] | None = "Adam",
    *,
    margin: float = 0.03,
    limit: int = 1 << 20,
    use_reserved: bool = True,
    keep_grads: bool = False,
    ddp_buckets: bool = False,
) -> int:
    """The largest batch whose peak (reserved by default: what must fit on the device, minus
    nothing for the context, which ``usable_bytes`` should already exclude) stays within
    ``usable_bytes * (1 - margin)`` (the default is ``fit.DEFAULT_BATCH_MARGIN``, 3%: see
    ``gpulens.estimate.fit``). Memory grows linearly with the batch, so bisection over
    the step walk is exact for the model; 0 when even batch 1 does not fit."""
    budget = int(usable_bytes * (1.0 - margin))

    def need(b: int) -> int:
        e = estimate_training_memory(
            model, b, precision, optimizer, keep_grads=keep_grads, ddp_buckets=ddp_buckets
        )
        return e.peak_reserved if use_reserved else e.peak_allocated

    n1 = need(1)
    if n1 > budget:
        return 0
    # memory is (piecewise) linear in the batch: aim with the slope, then bracket and bisect
    probe = 64
    slope = max(1.0, (need(probe) - n1) / (probe - 1))
    guess = max(1, min(limit, int(1 + (budget - n1) / slope)))
    lo, hi = 1, limit + 1
    if need(guess) <= budget:
        lo = guess
        step = max(1, guess // 16)
        while lo + step <= limit and need(lo + step) <= budget:
            lo, step = lo + step, step * 2
        hi = min(limit + 1, lo + step)
    else:
        hi = guess
        step = max(1, guess // 16)
        while hi - step >= 1 and need(hi - step) > budget:
            hi, step = hi - step, step * 2
        lo = max(1, hi - step)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if need(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return min(lo, limit)
