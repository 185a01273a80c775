"""Unit tests of each term of gpulens.estimate.memory (pure Python, no torch needed)."""

from __future__ import annotations

import pytest
from gpulens.estimate.graph import sequential_trace
from gpulens.estimate.layers import build
from gpulens.estimate.memory import (
    CUDA_CONTEXT_BYTES,
    MIB,
    ModelCosts,
    OptimizerSpec,
    estimate_training_memory,
    max_batch_size,
    optimizer_factors,
)


def mlp(width: int = 1024, depth: int = 2) -> object:
    layers = [build("Flatten")]
    d = 784
    for _ in range(depth):
        layers += [build("Linear", (d, width)), build("ReLU")]
        d = width
    layers.append(build("Linear", (d, 10)))
    return sequential_trace(build("Sequential", tuple(layers)), (1, 28, 28))


def convnet() -> object:
    return sequential_trace(build("Sequential", (
        build("Conv2d", (3, 16, 3), {"padding": 1}), build("BatchNorm2d", (16,)),
        build("ReLU", (), {"inplace": True}), build("MaxPool2d", (2,)),
        build("AdaptiveAvgPool2d", (1,)), build("Flatten"), build("Linear", (16, 10)),
    )), (3, 32, 32))  # fmt: skip


PARAMS = 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10


def test_weights_gradients_state_fp32_adam() -> None:
    e = estimate_training_memory(mlp(), 32, "fp32", "Adam")
    assert e.tier == "static"
    assert e.gradients == PARAMS * 4
    assert e.weights == pytest.approx(PARAMS * 4, abs=6 * 512)
    assert e.optimizer_state == 2 * PARAMS * 4


@pytest.mark.parametrize(
    ("opt", "factor"),
    [
        ({"class": "SGD"}, 0), ({"class": "SGD", "momentum": 0.9}, 1), ("Adam", 2),
        ({"class": "AdamW", "amsgrad": True}, 3), ("RMSprop", 1),
        ({"class": "RMSprop", "momentum": 0.9, "centered": True}, 3), ("Adagrad", 1),
        ("Adadelta", 2), ("Adamax", 2), ("NAdam", 2), ("RAdam", 2),
    ],
)  # fmt: skip
def test_optimizer_state_factor(opt: object, factor: int) -> None:
    e = estimate_training_memory(mlp(), 8, "fp32", opt)  # type: ignore[arg-type]
    assert e.optimizer_state == factor * PARAMS * 4


def test_foreach_and_fused_temporaries() -> None:
    assert optimizer_factors(OptimizerSpec("AdamW"))[1] == 1.0
    assert optimizer_factors(OptimizerSpec("AdamW", fused=True))[1] == 0.0
    assert optimizer_factors(OptimizerSpec("SGD", momentum=0.9))[1] == 0.0
    assert optimizer_factors(OptimizerSpec("Adadelta"))[1] == 2.0


def test_pure_half_halves_weights_amp_keeps_fp32() -> None:
    fp32 = estimate_training_memory(mlp(), 64, "fp32", "Adam")
    bf16 = estimate_training_memory(mlp(), 64, "bf16", "Adam")
    amp = estimate_training_memory(mlp(), 64, "amp_bf16", "Adam")
    assert bf16.weights < fp32.weights * 0.51
    assert bf16.optimizer_state == fp32.optimizer_state // 2
    assert amp.weights == fp32.weights and amp.optimizer_state == fp32.optimizer_state


def test_amp_halves_conv_activations() -> None:
    fp32 = estimate_training_memory(convnet(), 256, "fp32", "SGD")
    amp = estimate_training_memory(convnet(), 256, "amp_fp16", "SGD")
    # the fp32 input batch stays (plus its fp16 copy that conv1 keeps), the rest halves
    assert 0.45 < amp.activations / fp32.activations < 0.7


def test_activations_linear_in_batch() -> None:
    a = [estimate_training_memory(convnet(), b, "fp32", "SGD").activations for b in (8, 16, 32)]
    assert a[2] - a[1] == 2 * (a[1] - a[0])


def test_workspace_and_context() -> None:
    train = estimate_training_memory(mlp(), 8, "fp32", "Adam")
    ev = estimate_training_memory(mlp(), 8, "fp32", None, train=False)
    assert train.workspace == 65 * MIB  # forward and backward threads each hold 32 MiB + 1
    assert ev.workspace == 33 * MIB
    assert train.cuda_context >= CUDA_CONTEXT_BYTES
    assert train.device_total == train.peak_reserved + train.cuda_context
    assert train.peak_reserved >= train.peak_allocated
    assert ev.gradients == 0 and ev.optimizer_state == 0


def test_peak_phases() -> None:
    # big weights, tiny batch: the optimizer step (grads + Adam's temporary) is the peak
    e = estimate_training_memory(mlp(4096), 2, "fp32", "AdamW")
    assert e.peak_phase == "optimizer step"
    assert e.peak_allocated == pytest.approx(
        e.weights + e.gradients + e.optimizer_state + e.gradients + e.workspace, rel=0.01
    )
    # big batch: activations dominate
    e = estimate_training_memory(convnet(), 2048, "fp32", "SGD")
    assert not e.peak_phase.startswith("optimizer")
    assert e.peak_allocated > e.activations


def test_keep_grads_adds_gradients_during_forward() -> None:
    a = estimate_training_memory(convnet(), 64, "fp32", "SGD")
    b = estimate_training_memory(convnet(), 64, "fp32", "SGD", keep_grads=True)
    assert b.peak_allocated >= a.peak_allocated


def test_two_models_sum() -> None:
    g, d = mlp(256), mlp(512)
    one = estimate_training_memory(g, 16, "fp32", "Adam")
    two = estimate_training_memory([g, d], 16, "fp32", ["Adam", "Adam"])
    other = estimate_training_memory(d, 16, "fp32", "Adam")
    assert two.weights == one.weights + other.weights
    assert two.optimizer_state == one.optimizer_state + other.optimizer_state
    assert two.peak_allocated >= max(one.peak_allocated, other.peak_allocated)


def test_model_costs_path() -> None:
    m = ModelCosts("net", 1_000_000, 1_000_000, 0, 400_000, 12_288, 1000)
    e = estimate_training_memory(m, 10, "fp32", {"class": "SGD", "momentum": 0.9})
    assert e.weights == 4_000_000
    assert e.activations >= 10 * 400_000


def test_max_batch_size_fits() -> None:
    usable = 2 << 30
    b = max_batch_size(convnet(), usable, "fp32", "SGD", margin=0.1)
    assert b > 0
    assert estimate_training_memory(convnet(), b, "fp32", "SGD").peak_reserved <= usable * 0.9
    assert estimate_training_memory(convnet(), b + 1, "fp32", "SGD").peak_reserved > usable * 0.9


def test_incomplete_trace_says_why() -> None:
    t = sequential_trace([build("Linear", (10, 10))], (None,))  # type: ignore[arg-type]
    e = estimate_training_memory(t, 4, "fp32", "SGD")
    assert not e.complete and e.reasons


def test_torchvision_costs_scale_with_pixels() -> None:
    from gpulens.estimate.memory import torchvision_costs

    ref = torchvision_costs("resnet18")
    small = torchvision_costs("resnet18", num_classes=10, input_size=(3, 112, 112))
    assert ref is not None and small is not None
    assert small.params == ref.params - 990 * 513
    assert small.saved_bytes_per_sample == pytest.approx(ref.saved_bytes_per_sample / 4, rel=0.01)
    e = estimate_training_memory(ref, 64, "fp32", {"class": "SGD", "momentum": 0.9})
    assert 1400 * MIB < e.peak_allocated < 1700 * MIB  # measured on an H200: 1,561 MiB


def test_caching_allocator_segments_and_reuse() -> None:
    from gpulens.estimate.memory import CachingAllocator

    a = CachingAllocator()
    a.malloc(1, 100)  # small pool: one 2 MiB segment
    a.malloc(2, 1000)
    assert a.reserved == 2 * MIB
    a.malloc(3, 5 * MIB)  # large request under 10 MiB: a 20 MiB segment
    assert a.reserved == 22 * MIB
    a.malloc(4, 5 * MIB)  # fits in the rest of that segment
    assert a.reserved == 22 * MIB
    a.malloc(5, 30 * MIB + 1)  # own segment rounded up to 2 MiB
    assert a.reserved == 22 * MIB + 32 * MIB
    a.free(5)
    a.malloc(6, 20 * MIB)  # reuses (splits) the cached 32 MiB block
    assert a.reserved == 54 * MIB
    a.free(3)
    a.free(4)
    a.malloc(7, 19 * MIB)  # the two freed 5 MiB blocks merged with the segment's rest
    assert a.reserved == 54 * MIB


def test_checkpoint_keeps_only_region_inputs() -> None:
    from gpulens.estimate.graph import TraceBuilder

    def build_trace(ckpt: bool) -> object:
        b = TraceBuilder()
        x = b.input((None, 512))
        layers = []
        for _ in range(4):
            lin = build("Linear", (512, 512))
            layers.append(lin)
            if ckpt:
                b.begin_checkpoint()
            x = b.op("gelu", [b.layer(lin, x)])
            if ckpt:
                b.end_checkpoint()
        b.output(x)
        b.cross_entropy(x, b.input((None,), dtype="int64"))
        return b.finish(layers)

    plain = estimate_training_memory(build_trace(False), 256, "fp32", "SGD")  # type: ignore[arg-type]
    ckpt = estimate_training_memory(build_trace(True), 256, "fp32", "SGD")  # type: ignore[arg-type]
    assert ckpt.activations < plain.activations * 0.7


def test_inplace_relu_shares_storage() -> None:
    lin = [build("Linear", (64, 64))]
    inplace = sequential_trace([*lin, build("ReLU", (), {"inplace": True})], (64,), loss=None)
    fresh = sequential_trace([*lin, build("ReLU")], (64,), loss=None)
    relu_out = inplace.calls[-1].outputs[0]
    assert inplace.root(relu_out) == inplace.calls[0].outputs[0]
    a = estimate_training_memory(inplace, 1024, "fp32", "SGD").activations
    b = estimate_training_memory(fresh, 1024, "fp32", "SGD").activations
    assert a == b  # ReLU saves its result either way; in place it is Linear's output storage


def test_as_json_has_issue3_keys() -> None:
    e = estimate_training_memory(mlp(), 16, "amp_fp16", {"class": "AdamW", "fused": True})
    j = e.as_json()
    for k in ("tier", "batch_size", "precision", "optimizer", "weights", "gradients",
              "optimizer_state", "activations", "workspace", "peak_allocated", "peak_reserved",
              "cuda_context", "device_total"):  # fmt: skip
        assert k in j
    assert j["tier"] == "static" and j["precision"] == "amp_fp16"
    assert all(isinstance(j[k], int) for k in ("weights", "peak_allocated", "device_total"))


def test_cross_entropy_one_call_matches_two_calls() -> None:
    from gpulens.estimate.graph import TraceBuilder

    def make(one: bool) -> object:
        b = TraceBuilder()
        x = b.input((None, 128))
        lin = build("Linear", (128, 1000))
        out = b.layer(lin, x)
        b.output(out)
        y = b.input((None,), dtype="int64")
        if one:
            b.op("cross_entropy", [out, y], ())
        else:
            b.cross_entropy(out, y)
        return b.finish([lin])

    one = estimate_training_memory(make(True), 512, "fp32", "SGD")  # type: ignore[arg-type]
    two = estimate_training_memory(make(False), 512, "fp32", "SGD")  # type: ignore[arg-type]
    assert one.activations == pytest.approx(two.activations, abs=64)
    assert one.peak_allocated == pytest.approx(two.peak_allocated, rel=1e-3)


@pytest.mark.parametrize("batch", [2, 4096])
def test_peak_breakdown_sums_to_peak(batch: int) -> None:
    for model in (mlp(), convnet()):
        for prec in ("fp32", "amp_bf16"):
            e = estimate_training_memory(model, batch, prec, "AdamW")  # type: ignore[arg-type]
            assert sum(e.peak_breakdown.values()) == e.peak_allocated
            assert all(v >= 0 for v in e.peak_breakdown.values())


def test_conv_reserved_scales_with_the_largest_activation() -> None:
    """Convnets: reserved = allocated peak + CONV_FRAGMENT_BLOCKS largest dense-conv outputs
    (cuDNN workspace and gradient churn); a no_grad forward strands fewer blocks."""
    from gpulens.estimate.memory import CONV_EVAL_FRAGMENT_BLOCKS, CONV_FRAGMENT_BLOCKS

    for b in (32, 256):
        e = estimate_training_memory(convnet(), b, "fp32", "SGD")
        stranded = e.peak_reserved - e.peak_allocated
        assert stranded > 0
        ev = estimate_training_memory(convnet(), b, "fp32", None, train=False)
        assert ev.peak_reserved - ev.peak_allocated < stranded
    # the extra grows with the batch in proportion to the largest activation
    small = estimate_training_memory(convnet(), 64, "fp32", "SGD")
    big = estimate_training_memory(convnet(), 128, "fp32", "SGD")
    extra = (big.peak_reserved - big.peak_allocated) - (small.peak_reserved - small.peak_allocated)
    assert extra > 0
    assert CONV_FRAGMENT_BLOCKS > CONV_EVAL_FRAGMENT_BLOCKS >= 1


def test_model_costs_largest_activation_sets_fragmentation() -> None:
    from gpulens.estimate.memory import CONV_FRAGMENT_BLOCKS, MIB

    base = ModelCosts("net", 1_000_000, 1_000_000, 0, 400_000, 12_288, 1000)
    known = ModelCosts("net", 1_000_000, 1_000_000, 0, 400_000, 12_288, 1000,
                       largest_activation_per_sample=100_000)  # fmt: skip
    e = estimate_training_memory(known, 1000, "fp32", "SGD")
    extra = e.peak_reserved - e.peak_allocated
    assert (
        CONV_FRAGMENT_BLOCKS * 100_000_000 <= extra < CONV_FRAGMENT_BLOCKS * 100_000_000 + 2 * MIB
    )
    # without the figure (an older table) the coarse transient rule still adds headroom
    assert estimate_training_memory(base, 1000, "fp32", "SGD").peak_reserved > e.peak_allocated
    # torchvision's table carries the figure: resnet18's 64x112x112 stem output
    from gpulens.estimate.memory import torchvision_costs

    tv = torchvision_costs("resnet18")
    assert tv is not None and tv.largest_activation_per_sample == 64 * 112 * 112 * 4


def _expand_net(kernel: int) -> object:
    """A 3x3 stem, then an expansion to 4x the channels by a conv of ``kernel``: the largest
    tensor is the expansion's output either way."""
    pad = kernel // 2
    return sequential_trace(build("Sequential", (
        build("Conv2d", (3, 16, 3), {"padding": 1}), build("ReLU"),
        build("Conv2d", (16, 64, kernel), {"padding": pad}), build("ReLU"),
        build("AdaptiveAvgPool2d", (1,)), build("Flatten"), build("Linear", (64, 10)),
    )), (3, 32, 32))  # fmt: skip


def test_dense_conv_outputs_set_the_fragmentation() -> None:
    """The stranded blocks follow the largest output of a dense convolution: a net whose
    largest tensor comes from a 1x1 convolution (no cuDNN workspace churn) strands blocks of
    its 3x3 stem's output, a smaller amount than the same net with a 3x3 expansion. The stem
    works on the input batch (no input gradient in backward): fewer blocks per byte."""
    from gpulens.estimate.memory import CONV_FRAGMENT_BLOCKS, CONV_WGRAD_FRAGMENT_BLOCKS

    b = 256
    pw = estimate_training_memory(_expand_net(1), b, "fp32", "SGD")
    dense = estimate_training_memory(_expand_net(3), b, "fp32", "SGD")
    stem = 16 * 32 * 32 * 4 * b
    expansion = 64 * 32 * 32 * 4 * b
    pw_extra = pw.peak_reserved - pw.peak_allocated
    dense_extra = dense.peak_reserved - dense.peak_allocated
    want = CONV_WGRAD_FRAGMENT_BLOCKS * stem
    assert want <= pw_extra < want + 2 * MIB
    assert "a stem on the input" in pw.how["peak_reserved"]
    assert CONV_FRAGMENT_BLOCKS * expansion <= dense_extra
    assert dense_extra < CONV_FRAGMENT_BLOCKS * expansion + 2 * MIB
    assert "a stem on the input" not in dense.how["peak_reserved"]


def test_a_stem_and_the_next_dense_convolution_take_the_larger_term() -> None:
    """vgg-like: a wide stem at full resolution, then a pool and a wider conv at half of it.
    The walk records both outputs; the stranded bytes are the larger of the stem's term and
    the second convolution's (its backward computes the input's gradient too)."""
    from gpulens.estimate.activations import simulate
    from gpulens.estimate.memory import CONV_FRAGMENT_BLOCKS, CONV_WGRAD_FRAGMENT_BLOCKS

    def net(second: int) -> object:
        return sequential_trace(build("Sequential", (
            build("Conv2d", (3, 64, 3), {"padding": 1}), build("ReLU", (), {"inplace": True}),
            build("MaxPool2d", (2,)),
            build("Conv2d", (64, second, 3), {"padding": 1}), build("ReLU"),
            build("AdaptiveAvgPool2d", (1,)), build("Flatten"), build("Linear", (second, 10)),
        )), (3, 64, 64))  # fmt: skip

    b = 64
    stem = 64 * 64 * 64 * 4 * b
    for second, want in (
        (128, CONV_WGRAD_FRAGMENT_BLOCKS * stem),  # 0.5 x the stem's bytes: the stem wins
        (512, CONV_FRAGMENT_BLOCKS * 512 * 32 * 32 * 4 * b),  # 2 x: the second conv wins
    ):
        trace = net(second)
        prof = simulate(trace, b)  # type: ignore[arg-type]
        assert prof.largest_dense_conv == max(stem, second * 32 * 32 * 4 * b)
        assert prof.largest_dense_conv_grad_input == second * 32 * 32 * 4 * b
        e = estimate_training_memory(trace, b, "fp32", "SGD")  # type: ignore[arg-type]
        extra = e.peak_reserved - e.peak_allocated
        assert want <= extra < want + 2 * MIB, second


def test_model_costs_dense_conv_and_matmul_figures() -> None:
    """A table model with its dense-conv and Linear figures: 6.3 blocks of the former, 2 of the
    latter; without the dense figure the largest activation stands in (conservative)."""
    from gpulens.estimate.memory import (
        CONV_FRAGMENT_BLOCKS,
        CONV_MATMUL_BLOCKS,
        CONV_WGRAD_FRAGMENT_BLOCKS,
    )

    args = ("net", 1_000_000, 1_000_000, 0, 400_000, 12_288, 1000)
    figures = {"largest_activation_per_sample": 100_000, "largest_dense_conv_per_sample": 20_000}
    full = ModelCosts(*args, **figures, largest_matmul_per_sample=100_000)  # type: ignore[arg-type]
    no_mm = ModelCosts(*args, **figures, largest_matmul_per_sample=0)  # type: ignore[arg-type]
    older = ModelCosts(*args, largest_activation_per_sample=100_000)
    n = 1000

    def extra(m: ModelCosts) -> int:
        e = estimate_training_memory(m, n, "fp32", "SGD")
        return e.peak_reserved - e.peak_allocated

    want = CONV_FRAGMENT_BLOCKS * 20_000 * n
    assert want <= extra(no_mm) < want + 2 * MIB
    want += CONV_MATMUL_BLOCKS * 100_000 * n
    assert want <= extra(full) < want + 2 * MIB
    assert extra(older) >= CONV_FRAGMENT_BLOCKS * 100_000 * n > extra(no_mm)
    # with the figure for convolutions that compute an input gradient: a stem-only net gets
    # the stem's blocks; without it (above) the conservative full blocks
    stem_only = ModelCosts(
        *args, **figures, largest_dense_conv_grad_input_per_sample=0, largest_matmul_per_sample=0
    )  # type: ignore[arg-type]
    want = CONV_WGRAD_FRAGMENT_BLOCKS * 20_000 * n
    assert want <= extra(stem_only) < want + 2 * MIB < extra(no_mm)


def test_torchvision_table_dense_conv_and_linear_figures() -> None:
    """The table's per-model figures: the largest dense-conv output is at most the largest
    activation; resnet18's is its 64x112x112 stem, convnext_tiny's largest tensor is a Linear's
    (its convolutions are a 4x4 patchify stem and depthwise 7x7), efficientnet_b0's a 1x1
    convolution's (neither the dense nor the Linear figure)."""
    from gpulens.estimate.torchvision_models import lookup_model, model_names

    for name in model_names():
        m = lookup_model(name)
        assert m is not None
        if m.largest_dense_conv_bytes_per_sample:
            assert m.largest_dense_conv_bytes_per_sample <= m.largest_activation_bytes_per_sample
        if m.largest_linear_bytes_per_sample is not None:
            assert m.largest_linear_bytes_per_sample <= m.largest_activation_bytes_per_sample
    r18, cnx, eff = (lookup_model(n) for n in ("resnet18", "convnext_tiny", "efficientnet_b0"))
    assert r18 is not None and cnx is not None and eff is not None
    assert r18.largest_dense_conv_bytes_per_sample == 64 * 112 * 112 * 4
    assert cnx.largest_linear_bytes_per_sample == cnx.largest_activation_bytes_per_sample
    assert cnx.largest_dense_conv_bytes_per_sample == 96 * 56 * 56 * 4
    assert eff.largest_dense_conv_bytes_per_sample == 32 * 112 * 112 * 4
    assert eff.largest_linear_bytes_per_sample == 1000 * 4
    # the largest dense conv whose input requires grad: every one but a stem on the image
    vgg = lookup_model("vgg11")
    assert vgg is not None
    assert r18.largest_dense_conv_grad_input_bytes_per_sample == 64 * 56 * 56 * 4
    assert vgg.largest_dense_conv_grad_input_bytes_per_sample == 128 * 112 * 112 * 4
    assert eff.largest_dense_conv_grad_input_bytes_per_sample == 0  # depthwise and 1x1 after
    for name in model_names():
        m = lookup_model(name)
        assert m is not None and m.largest_dense_conv_grad_input_bytes_per_sample is not None
        assert m.largest_dense_conv_grad_input_bytes_per_sample <= (
            m.largest_dense_conv_bytes_per_sample
        )
