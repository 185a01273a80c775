"""Dataset sizes: torchvision datasets (a table), tensors, TensorDataset, splits and subsets,
ImageFolder over a folder in the workspace, and the DataLoader / samplers built on them."""

from __future__ import annotations

import json
import math
import os
import time
from functools import lru_cache
from importlib import resources
from typing import Any

from gpulens.analysis.values import (
    CallCtx,
    DatasetVal,
    Evaluator,
    Handler,
    LoaderVal,
    SamplerVal,
    SeqVal,
    TensorVal,
    V,
    is_number,
    unknown,
)

#: torchvision.datasets.folder.IMG_EXTENSIONS (compared lower-case, as torchvision does).
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: Counting images must never stall the editor: stop after this many files or seconds.
MAX_FILES = 200_000
MAX_SECONDS = 0.5


@lru_cache(maxsize=1)
def dataset_table() -> dict[str, dict[str, Any]]:
    """The torchvision size table (read once; it is package data, not user input)."""
    text = resources.files("gpulens.analysis").joinpath("data/datasets.json").read_text("utf-8")
    data: dict[str, dict[str, Any]] = json.loads(text)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _split_of(ctx: CallCtx, name: str, entry: dict[str, Any]) -> tuple[str | None, str | None]:
    """(split key in the table, reason when it cannot be told)."""
    select = entry["select"]
    default: str = entry["default"]
    if select == "none":
        return "all", None
    if select in ("train", "background"):
        kw = "train" if select == "train" else "background"
        v = ctx.arg(1, kw)
        if v is None:
            return default, None
        if not v.known:
            return None, f"`{kw}=` of {name}: {v.reason}"
        if select == "background":
            return ("background" if v.value else "evaluation"), None
        return ("train" if v.value else "test"), None
    if select == "split":
        v = ctx.arg(1, "split")
        if v is None:
            return default, None
        if not v.known or not isinstance(v.value, str):
            return None, f"`split=` of {name}: {v.reason or 'not a string'}"
        return v.value, None
    if select == "emnist":
        sv = ctx.arg(1, "split")
        if sv is None or not sv.known or not isinstance(sv.value, str):
            reason = sv.reason if sv is not None else "EMNIST needs split="
            return None, f"`split=` of EMNIST: {reason}"
        tv = ctx.arg(None, "train")
        if tv is not None and not tv.known:
            return None, f"`train=` of EMNIST: {tv.reason}"
        part = "train" if tv is None or tv.value else "test"
        return f"{sv.value}/{part}", None
    if select == "qmnist":
        what = ctx.arg(1, "what")
        if what is not None and what.value is not None:
            if not what.known or not isinstance(what.value, str):
                return None, f"`what=` of QMNIST: {what.reason or 'not a string'}"
            return what.value, None
        tv = ctx.arg(None, "train")
        if tv is not None and not tv.known:
            return None, f"`train=` of QMNIST: {tv.reason}"
        return ("train" if tv is None or tv.value else "test"), None
    return None, f"{name}: unsupported split selector"


def _torchvision(name: str) -> Handler:
    def handler(ctx: CallCtx) -> V | None:
        entry = dataset_table()[name]
        split, reason = _split_of(ctx, name, entry)
        if split is None:
            return V(
                DatasetVal(None, f"torchvision {name}", reason, entry["doc"], ctx.name),
                f"torchvision {name}",
                ctx.span,
            )
        size = entry["splits"].get(split)
        if size is None:
            known = ", ".join(entry["splits"])
            return V(
                DatasetVal(
                    None,
                    f"torchvision {name}",
                    f"{name} has no split {split!r} in gpulens' table ({known})",
                    entry["doc"],
                    ctx.name,
                ),
                f"torchvision {name}",
                ctx.span,
            )
        label = "" if split == "all" else f", {split} split"
        desc = f"torchvision {name}{label}: {size:,} samples"
        return V(DatasetVal(size, desc, None, entry["doc"], ctx.name), desc, ctx.span)

    return handler


# -- tensors --------------------------------------------------------------------------------


def _dim0_of_size(v: V) -> V:
    """The first dimension from a size argument: an int or a tuple/list of ints."""
    if not v.known:
        return v
    x = v.value
    if isinstance(x, SeqVal):
        if not x.items:
            return V(None, "a 0-d tensor", v.span)
        return _dim0_of_size(x.items[0])
    if isinstance(x, int) and not isinstance(x, bool):
        return v
    return unknown("a tensor size the reader cannot fold", v.span)


def _tensor(result: V, ctx: CallCtx, what: str) -> V:
    if not result.known:
        return V(
            TensorVal(None, f"`{ctx.ev.segment(ctx.node, 50)}` ({result.reason})"),
            f"`{ctx.ev.segment(ctx.node, 50)}`",
            ctx.span,
        )
    n = result.value if isinstance(result.value, int) else None
    src = f"`{ctx.ev.segment(ctx.node, 50)}`, line {ctx.node.lineno}"
    if result.source not in ("literal",) and not result.source.startswith("`"):
        src += f" ({result.source})"
    elif result.source.startswith("`") and result.source != src:
        src += f" with {result.source}"
    return V(TensorVal(n, f"{what} {src}"), src, ctx.span)


def _shape_first(ctx: CallCtx) -> V | None:
    """randn(N, d) / zeros((N, d)) / empty(size=(N,)) / np.random.rand(N, d)."""
    size = ctx.arg(None, "size")
    if size is None:
        size = ctx.arg(None, "shape")
    if size is None:
        size = ctx.arg(0)
    if size is None:
        return None
    return _tensor(_dim0_of_size(size), ctx, "tensor")


def _full(ctx: CallCtx) -> V | None:
    size = ctx.arg(0, "size")
    if size is None:
        size = ctx.arg(None, "shape")
    if size is None:
        return None
    return _tensor(_dim0_of_size(size), ctx, "tensor")


def _randint(ctx: CallCtx) -> V | None:
    size = ctx.arg(None, "size")
    if size is None and ctx.node.args:
        last = len(ctx.node.args) - 1
        v = ctx.arg(last)
        is_tuple = v is not None and v.known and isinstance(v.value, SeqVal)
        if is_tuple or (len(ctx.node.args) == 3 and ctx.name.startswith("numpy")):
            size = v
    if size is None:
        return V(TensorVal(None, "a scalar"), "randint", ctx.span)
    return _tensor(_dim0_of_size(size), ctx, "tensor")


def _normal(ctx: CallCtx) -> V | None:
    size = ctx.arg(None, "size")
    if size is None and len(ctx.node.args) >= 3:
        size = ctx.arg(2)
    if size is None:
        return None
    return _tensor(_dim0_of_size(size), ctx, "tensor")


def _arange(ctx: CallCtx) -> V | None:
    vals = [ctx.arg(i) for i in range(len(ctx.node.args))]
    end = ctx.arg(None, "end")
    if end is not None:
        vals = [*vals[:1], end] if vals else [end]
    if not vals or any(v is None or not v.known or not is_number(v.value) for v in vals):
        bad = next((v for v in vals if v is not None and not v.known), None)
        return _tensor(bad or unknown("bounds not known"), ctx, "tensor")
    nums = [v.value for v in vals if v is not None]
    if len(nums) == 1:
        start, stop, step = 0, nums[0], 1
    else:
        start, stop = nums[0], nums[1]
        step = nums[2] if len(nums) > 2 else 1
    if step == 0:
        return _tensor(unknown("zero step"), ctx, "tensor")
    n = max(0, math.ceil((stop - start) / step))
    return _tensor(V(n, vals[0].source if vals[0] else "literal"), ctx, "tensor")


def _linspace(ctx: CallCtx) -> V | None:
    steps = ctx.arg(2, "steps")
    if steps is None:
        steps = ctx.arg(None, "num")
    if steps is None:
        return (
            _tensor(V(50, "numpy default num=50"), ctx, "array")
            if ctx.name.startswith("numpy")
            else None
        )
    return _tensor(steps, ctx, "tensor")


def _from_data(ctx: CallCtx) -> V | None:
    """torch.tensor(list) / from_numpy(x) / as_tensor(x) / np.array(x)."""
    v = ctx.arg(0, "data")
    if v is None or not v.known:
        return v and _tensor(v, ctx, "tensor")
    x = v.value
    if isinstance(x, TensorVal):
        return V(x, v.source, ctx.span)
    if isinstance(x, SeqVal):
        return _tensor(V(len(x.items), v.source), ctx, "tensor")
    if isinstance(x, range):
        return _tensor(V(len(x), v.source), ctx, "tensor")
    return _tensor(unknown("data the reader cannot follow"), ctx, "tensor")


def _cat(ctx: CallCtx) -> V | None:
    seq = ctx.arg(0, "tensors")
    dim = ctx.arg(1, "dim")
    if dim is not None and (not dim.known or dim.value != 0):
        return _tensor(unknown("concatenated along another dimension"), ctx, "tensor")
    if seq is None or not seq.known or not isinstance(seq.value, SeqVal):
        return _tensor(unknown("parts not known"), ctx, "tensor")
    total = 0
    for item in seq.value.items:
        if not item.known or not isinstance(item.value, TensorVal) or item.value.dim0 is None:
            return _tensor(unknown("a part with unknown size"), ctx, "tensor")
        total += item.value.dim0
    return _tensor(V(total, "literal"), ctx, "tensor")


def _stack(ctx: CallCtx) -> V | None:
    seq = ctx.arg(0, "tensors")
    if seq is None or not seq.known or not isinstance(seq.value, SeqVal):
        return _tensor(unknown("parts not known"), ctx, "tensor")
    return _tensor(V(len(seq.value.items), "literal"), ctx, "tensor")


def _keep_tensor(ctx: CallCtx) -> V | None:
    """``x.float()``, ``x.to(device)``… keep the first dimension."""
    recv = ctx.receiver()
    if recv.known and isinstance(recv.value, TensorVal | DatasetVal):
        return recv
    return None


def _size_method(ctx: CallCtx) -> V | None:
    recv = ctx.receiver()
    if recv.known and isinstance(recv.value, TensorVal):
        d = ctx.arg(0, "dim")
        if d is not None and d.known and d.value == 0:
            if recv.value.dim0 is None:
                return unknown("first dimension unknown", ctx.span)
            return V(recv.value.dim0, recv.source, ctx.span)
    return None


# -- datasets -------------------------------------------------------------------------------


def _tensor_dataset(ctx: CallCtx) -> V | None:
    if not ctx.node.args:
        return V(DatasetVal(None, "TensorDataset", "no tensors given"), "TensorDataset", ctx.span)
    first = ctx.arg(0)
    assert first is not None
    n = ctx.ev.length(first, ctx.span)
    if not n.known:
        return V(
            DatasetVal(None, "TensorDataset", f"TensorDataset: {n.reason}"),
            "TensorDataset",
            ctx.span,
        )
    desc = f"TensorDataset of {n.value:,} samples ({n.source})"
    return V(DatasetVal(n.value, desc, None, "", "TensorDataset"), desc, ctx.span)


def _random_split(ctx: CallCtx) -> V | None:
    ds = ctx.arg(0, "dataset")
    lengths = ctx.arg(1, "lengths")
    if ds is None or lengths is None:
        return None
    if not lengths.known or not isinstance(lengths.value, SeqVal):
        return unknown(f"random_split lengths: {lengths.reason or 'not a list'}", ctx.span)
    parts = lengths.value.items
    if not all(p.known and is_number(p.value) for p in parts):
        bad = next(p for p in parts if not (p.known and is_number(p.value)))
        reason = f"random_split lengths: {bad.reason or 'not a number'}"
        return V(
            SeqVal(
                [
                    V(DatasetVal(None, "random_split part", reason), "random_split", ctx.span)
                    for _ in parts
                ],
                "list",
            ),
            "random_split",
            ctx.span,
        )
    nums = [p.value for p in parts]
    if all(isinstance(x, int) for x in nums):
        sizes: list[int | None] = list(nums)
        how = "lengths"
    else:
        total = ctx.ev.length(ds, ctx.span)
        if not total.known or not math.isclose(sum(nums), 1.0, abs_tol=1e-6):
            reason = total.reason or "fractions do not sum to 1"
            sizes = [None] * len(nums)
        else:
            # torch.utils.data.random_split: floor each fraction, then hand out the remainder
            # one sample at a time to the first splits (round-robin).
            fl = [math.floor(total.value * f) for f in nums]
            rem = total.value - sum(fl)
            for i in range(rem):
                fl[i % len(fl)] += 1
            sizes = list(fl)
            reason = ""
        how = "fractions"
    out: list[V] = []
    for i, s in enumerate(sizes):
        if s is None:
            out.append(
                V(DatasetVal(None, f"random_split part {i}", reason), "random_split", ctx.span)
            )
        else:
            desc = f"random_split part {i}: {s:,} samples (line {ctx.node.lineno}, {how})"
            out.append(V(DatasetVal(s, desc, None, "", "random_split"), desc, ctx.span))
    return V(SeqVal(out, "list"), "random_split", ctx.span)


def _subset(ctx: CallCtx) -> V | None:
    idx = ctx.arg(1, "indices")
    if idx is None:
        return None
    n = ctx.ev.length(idx, ctx.span)
    if not n.known:
        return V(DatasetVal(None, "Subset", f"Subset indices: {n.reason}"), "Subset", ctx.span)
    desc = f"Subset of {n.value:,} samples (line {ctx.node.lineno})"
    return V(DatasetVal(n.value, desc, None, "", "Subset"), desc, ctx.span)


def _concat(ctx: CallCtx) -> V | None:
    seq = ctx.arg(0, "datasets")
    if seq is None or not seq.known or not isinstance(seq.value, SeqVal):
        return None
    total = 0
    for item in seq.value.items:
        n = ctx.ev.length(item, ctx.span)
        if not n.known:
            return V(
                DatasetVal(None, "ConcatDataset", f"ConcatDataset part: {n.reason}"),
                "ConcatDataset",
                ctx.span,
            )
        total += n.value
    desc = f"ConcatDataset of {total:,} samples (line {ctx.node.lineno})"
    return V(DatasetVal(total, desc, None, "", "ConcatDataset"), desc, ctx.span)


def count_images(root: str, shown: str | None = None) -> tuple[int | None, str]:
    """Count ImageFolder samples under ``root``: image files inside class sub-folders."""
    label = shown or root
    if not os.path.isdir(root):
        return None, f"the folder {label} does not exist here"
    deadline = time.monotonic() + MAX_SECONDS
    total = 0
    classes = 0
    try:
        entries = sorted((e for e in os.scandir(root) if e.is_dir()), key=lambda e: e.name)
    except OSError as exc:
        return None, f"cannot list {root}: {exc.strerror}"
    for cls in entries:
        classes += 1
        for _dirpath, _dirs, files in os.walk(cls.path, followlinks=True):
            for f in files:
                if f.lower().endswith(IMG_EXTENSIONS):
                    total += 1
            if total > MAX_FILES or time.monotonic() > deadline:
                return None, (
                    f"{label} holds too many files to count quickly (stopped at {total:,})"
                )
    if classes == 0:
        return None, f"{label} has no class sub-folders (ImageFolder needs root/class/img.png)"
    return total, f"{total:,} images in {classes} class folders of {label}"


def _image_folder(ctx: CallCtx) -> V | None:
    root = ctx.arg(0, "root")
    if root is None:
        return None
    if not root.known or not isinstance(root.value, str):
        reason = f"ImageFolder root: {root.reason or 'not a path'}"
        return V(DatasetVal(None, "ImageFolder", reason), "ImageFolder", ctx.span)
    path = os.path.expanduser(root.value)
    if not os.path.isabs(path) and ctx.ev.ctx.script_path:
        path = os.path.join(os.path.dirname(os.path.abspath(ctx.ev.ctx.script_path)), path)
    n, how = count_images(path, root.value)
    if n is None:
        return V(DatasetVal(None, "ImageFolder", f"ImageFolder: {how}"), "ImageFolder", ctx.span)
    desc = f"ImageFolder: {how}"
    return V(DatasetVal(n, desc, None, "counted on disk", "ImageFolder"), desc, ctx.span)


def _hf_dataset(ctx: CallCtx) -> V | None:
    return V(
        DatasetVal(
            None,
            "Hugging Face dataset",
            "the sizes of Hugging Face datasets are not in gpulens' table",
        ),
        "load_dataset",
        ctx.span,
    )


# -- loaders and samplers -------------------------------------------------------------------


def _sampler(kind: str) -> Handler:
    def handler(ctx: CallCtx) -> V | None:
        ds = ctx.arg(
            0, "data_source" if kind in ("RandomSampler", "SequentialSampler") else "dataset"
        )
        if kind == "WeightedRandomSampler":
            ds = None
        replicas: V | None = None
        drop = False
        if kind == "DistributedSampler":
            replicas = ctx.arg(1, "num_replicas")
            if replicas is None or (replicas.known and replicas.value is None):
                env = ctx.ev.ctx.env
                if "WORLD_SIZE" in env:
                    replicas = V(int(env["WORLD_SIZE"]), "world_size setting", ctx.span)
                else:
                    replicas = unknown(
                        "DistributedSampler splits the data across processes, and the process"
                        " count comes from the launcher (torchrun --nproc_per_node)",
                        ctx.span,
                    )
            dl = ctx.arg(None, "drop_last")
            drop = bool(dl and dl.known and dl.value)
        if kind in ("RandomSampler", "WeightedRandomSampler"):
            ns = ctx.arg(1, "num_samples")
            if ns is not None and not (ns.known and ns.value is None):
                # The sampler draws num_samples indices per epoch, whatever the dataset's size.
                ds = V(
                    DatasetVal(
                        ns.value if ns.known and isinstance(ns.value, int) else None,
                        f"{kind}(num_samples={ns.value if ns.known else '?'})",
                        ns.reason,
                        "",
                        kind,
                    ),
                    ns.source,
                    ctx.span,
                )
        return V(SamplerVal(kind, ds, replicas, drop), kind, ctx.span)

    return handler


def _dataloader(ctx: CallCtx) -> V | None:
    ds = ctx.arg(0, "dataset") or unknown("DataLoader without a dataset", ctx.span)
    batch = ctx.arg(1, "batch_size") if ctx.ev.loader_batch else unknown("not read", ctx.span)
    if batch is None:
        bs_sampler = ctx.arg_node(None, "batch_sampler")
        if bs_sampler is not None:
            batch = unknown("batches come from a batch_sampler", ctx.span)
        else:
            batch = V(1, "DataLoader default batch_size=1", ctx.span)
    drop = ctx.arg(None, "drop_last") or V(False, "DataLoader default drop_last=False", ctx.span)
    sampler = ctx.arg(None, "sampler")
    return V(
        LoaderVal(ds, batch, drop, sampler, ctx.node),
        f"DataLoader, line {ctx.node.lineno}",
        ctx.span,
    )


def register(ev: Evaluator) -> None:
    h = ev.handlers
    for name in dataset_table():
        h[name] = _torchvision(name)
    for name in (
        "randn",
        "rand",
        "zeros",
        "ones",
        "empty",
        "randn_like",
        "standard_normal",
        "random_sample",
        "uniform",
    ):
        h[name] = _shape_first
    h["full"] = _full
    h["randint"] = _randint
    h["normal"] = _normal
    h["randperm"] = _shape_first
    h["permutation"] = _from_data
    h["arange"] = _arange
    h["linspace"] = _linspace
    for name in (
        "tensor",
        "from_numpy",
        "as_tensor",
        "array",
        "asarray",
        "Tensor",
        "FloatTensor",
        "LongTensor",
    ):
        h[name] = _from_data
    h["cat"] = _cat
    h["concatenate"] = _cat
    h["stack"] = _stack
    h["TensorDataset"] = _tensor_dataset
    h["random_split"] = _random_split
    h["Subset"] = _subset
    h["ConcatDataset"] = _concat
    h["ImageFolder"] = _image_folder
    h["DatasetFolder"] = _image_folder
    h["load_dataset"] = _hf_dataset
    h["DataLoader"] = _dataloader
    h["DistributedSampler"] = _sampler("DistributedSampler")
    h["RandomSampler"] = _sampler("RandomSampler")
    h["SequentialSampler"] = _sampler("SequentialSampler")
    h["WeightedRandomSampler"] = _sampler("WeightedRandomSampler")
    for m in (
        "float",
        "long",
        "int",
        "double",
        "half",
        "bfloat16",
        "to",
        "cuda",
        "cpu",
        "clone",
        "detach",
        "contiguous",
        "numpy",
        "astype",
        "pin_memory",
        "squeeze",
        "unsqueeze",
        "requires_grad_",
    ):
        ev.method_handlers.setdefault(m, _keep_tensor)
    ev.method_handlers["size"] = _size_method
