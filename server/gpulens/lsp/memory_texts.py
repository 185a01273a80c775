"""What the model and memory hints and hovers say, in English and Simplified Chinese.

Plain data in the style of :mod:`gpulens.lsp.concepts`: the rendering code in
:mod:`gpulens.lsp.costs` picks a text by key and locale and writes no prose of its own. The
estimator explains its own numbers (``MemoryEstimate.how``, in English); Chinese hovers show
them translated (:mod:`gpulens.lsp.reasons_zh`), or the per-term explanations below when they
do not translate.
"""

from __future__ import annotations

#: The rows of the memory table, in the order a reader adds them up.
TERMS: tuple[str, ...] = (
    "weights",
    "gradients",
    "optimizer_state",
    "activations",
    "workspace",
    "communication",
    "peak_allocated",
    "overhead",
    "peak_reserved",
    "cuda_context",
    "device_total",
    "eval_peak_allocated",
)

#: Rows shown only when not zero (most scripts have no DDP).
OPTIONAL_TERMS = frozenset({"communication"})

#: Rows printed in bold: the totals.
TOTALS = frozenset({"peak_allocated", "peak_reserved", "device_total"})

TERM_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "weights": "Weights",
        "gradients": "Gradients",
        "optimizer_state": "Optimizer state",
        "activations": "Activations",
        "workspace": "Workspace",
        "communication": "DDP buckets",
        "peak_allocated": "Peak allocated",
        "overhead": "Allocator overhead",
        "peak_reserved": "Peak reserved",
        "cuda_context": "CUDA context",
        "device_total": "Device total",
        "eval_peak_allocated": "Eval loop (no_grad)",
    },
    "zh-cn": {
        "weights": "权重",
        "gradients": "梯度",
        "optimizer_state": "优化器状态",
        "activations": "激活值",
        "workspace": "工作区",
        "communication": "DDP 通信桶",
        "peak_allocated": "峰值已分配",
        "overhead": "分配器开销",
        "peak_reserved": "峰值已保留",
        "cuda_context": "CUDA 上下文",
        "device_total": "设备总计",
        "eval_peak_allocated": "评估循环（no_grad）",
    },
}

#: How each term is computed, for Chinese hovers where the estimator's ``how`` (shown in English
#: hovers, translated by :mod:`gpulens.lsp.reasons_zh` in Chinese ones) is missing or does not
#: translate.
TERM_HOW_ZH: dict[str, str] = {
    "weights": "参数和缓冲区（如 BatchNorm 的 running mean/var），按模型的数据类型计，"
    "每个张量按 512 B 对齐；autocast 混合精度仍保留 fp32 权重",
    "gradients": "每个可训练参数一份梯度，与参数同类型；冻结的参数没有梯度",
    "optimizer_state": "优化器为每个可训练参数保存的缓冲区（Adam/AdamW 两份，带动量的 SGD 一份，"
    "普通 SGD 没有）",
    "activations": "前向结束时 autograd 为反向传播保存的张量（按算子规则计，同一存储只算一次），"
    "含输入批次；随批次大小线性增长",
    "workspace": "cuBLAS 工作区：每个执行矩阵乘法的线程 32 MiB（前向线程和 autograd 的反向线程）"
    " + 1 MiB，在 H200 上实测",
    "communication": "DistributedDataParallel 的 allreduce 通信桶：梯度大小的第二份拷贝，"
    "从包装模型起一直占用（gradient_as_bucket_view=True 时与梯度共用）；NCCL 自己的缓冲区不在 "
    "PyTorch 分配器中，未计入",
    "peak_allocated": "一次训练步各阶段（前向、反向、优化器更新）中的最大值，不是上面各行之和："
    "反向传播一边生成梯度一边释放激活值",
    "overhead": "缓存分配器的取整和碎片：峰值已保留 − 峰值已分配",
    "peak_reserved": "峰值已分配按 2 MiB 段取整，加上分配器无法复用的块（卷积网络碎片更多）",
    "cuda_context": "CUDA 上下文 612 MiB（NVML，H200 实测），加上加载的 cuBLAS / cuDNN 内核",
    "device_total": "峰值已保留 + CUDA 上下文：`nvidia-smi` 中这个进程占用的显存",
    "eval_peak_allocated": "在 `torch.no_grad()` 下评估时的峰值：不保存激活值，没有梯度",
}

#: Extra words for rows the estimator's ``how`` has no entry for (English).
TERM_HOW_EN: dict[str, str] = {
    "overhead": "caching-allocator rounding and fragmentation: peak reserved − peak allocated",
    "eval_peak_allocated": "the evaluation loop under `torch.no_grad()`: no saved activations, "
    "no gradients",
}

#: Short words for what the reader supplies, in hints and hovers.
UI: dict[str, dict[str, str]] = {
    "en": {
        "params": "params",
        "trainable": "trainable",
        "at_batch": "at batch {batch}",
        "static": "static",
        "partial": "partial",
        "memory_unknown_label": "GPU memory ?",
        "memory_title": "Training memory (static estimate)",
        "memory_unknown_title": "Training memory: not estimated",
        "memory_summary": "≈ **{peak}** peak allocated · **{total}** on the device "
        "(`nvidia-smi`) · batch {batch} · {precision} · {optimizer}",
        "tier": "_Static: from the source, not measured._ Peak allocated is what "
        "`torch.cuda.max_memory_allocated()` would report after a training step; device total "
        "is what `nvidia-smi` shows for the process.",
        "peak_phase": "The peak is reached at: {phase}.",
        "not_sum": "Peak allocated is the largest phase of the step, not the sum of the rows "
        "above it.",
        "term": "Term",
        "bytes": "Bytes",
        "how": "How it was computed",
        "partial_title": "Partial estimate: parts of the model were not followed",
        "notes": "Notes",
        "no_params": "No parameters",
        "in_model": "In model `{name}`",
        "missing": "What is missing",
        "supply_shape": "Give the input shape of one sample with a pragma comment, e.g. "
        "`# gpulens: input_shape=(3, 224, 224)`",
        "supply_batch": "Give the batch size with `# gpulens: batch_size=64` (or "
        '`gpulens.overrides`: `{"batch_size": 64}`)',
        "supply_precision": "Give the precision with `# gpulens: precision=amp_bf16` "
        "(fp32, amp_fp16, amp_bf16, fp16, bf16)",
        "change_title": "What would change it",
        "fits": "Largest batch that fits ({margin} headroom, CUDA context included): {items}",
        "fit_item": "{gib} GiB GPU → **{batch}**",
        "fit_none": "{gib} GiB GPU → does not fit",
        "predicted": "≈ **{peak}** ({delta})",
        "model_title": "Model `{name}`",
        "model_params": "**{params}** parameters ({exact})",
        "model_trainable": "{trainable} trainable ({exact}), {frozen} frozen",
        "model_weights": "Weights: **{size}** ({params} × {bytes} bytes, {precision})",
        "model_not_trained": "Not trained by this script (no optimizer gets its parameters).",
        "layers": "Layers",
        "params_col": "Params",
        "fixed_cost": "Most of the peak is the fixed cuBLAS workspace, not the model: batch size "
        "and precision change it little.",
        "layer": "Layer",
        "type": "Type",
        "output": "Output shape",
        "line": "Line",
        "more_layers": "… and {count} more layers",
        "layer_title": "Layer `{name}`: {type}",
        "layer_params": "Parameters: **{params}** ({exact})",
        "layer_share": "{share} of the model's parameters",
        "layer_output": "Output shape (batch first): **{shape}**",
        "layer_shape_unknown": "Output shape unknown: {reason}",
        "instances": "{count} instances on this line",
        "n_instances": "{count} instances",
        "instances_total": "{count} instances built from this line, {params} parameters in all:",
        "model_hint_tooltip": "{params} parameters · weights {size} in {precision}",
        "params_total": "Parameters of the trained model(s): **{params}** ({exact})",
    },
    "zh-cn": {
        "params": "params",
        "trainable": "可训练",
        "at_batch": "批次 {batch}",
        "static": "静态",
        "partial": "部分",
        "memory_unknown_label": "显存 ?",
        "memory_title": "训练显存（静态估计）",
        "memory_unknown_title": "训练显存：无法估计",
        "memory_summary": "≈ **{peak}** 峰值已分配 · 设备上 **{total}**（`nvidia-smi`）"
        " · 批次 {batch} · {precision} · {optimizer}",
        "tier": "_静态估计：根据源码推算，并非实测。_ 峰值已分配相当于一次训练步之后 "
        "`torch.cuda.max_memory_allocated()` 的值；设备总计是 `nvidia-smi` 中这个进程占用的显存。",
        "peak_phase": "峰值出现在：{phase}。",
        "not_sum": "峰值已分配是训练步中最大的那个阶段，不是上面各行之和。",
        "term": "项目",
        "bytes": "大小",
        "how": "计算方式",
        "partial_title": "部分估计：模型中有些部分无法跟踪",
        "notes": "说明",
        "no_params": "没有参数",
        "in_model": "属于模型 `{name}`",
        "missing": "缺少的信息",
        "supply_shape": "用注释给出单个样本的输入形状，例如 `# gpulens: input_shape=(3, 224, 224)`",
        "supply_batch": "用 `# gpulens: batch_size=64` 给出批次大小"
        '（或在 `gpulens.overrides` 中设置 `{"batch_size": 64}`）',
        "supply_precision": "用 `# gpulens: precision=amp_bf16` 给出精度"
        "（fp32、amp_fp16、amp_bf16、fp16、bf16）",
        "change_title": "怎样改变它",
        "fits": "可容纳的最大批次（预留 {margin}，已计入 CUDA 上下文）：{items}",
        "fit_item": "{gib} GiB 显卡 → **{batch}**",
        "fit_none": "{gib} GiB 显卡 → 放不下",
        "predicted": "≈ **{peak}**（{delta}）",
        "model_title": "模型 `{name}`",
        "model_params": "参数 **{params}** 个（{exact}）",
        "model_trainable": "可训练 {trainable}（{exact}），冻结 {frozen}",
        "model_weights": "权重：**{size}**（{params} × {bytes} 字节，{precision}）",
        "model_not_trained": "这个脚本不训练它（没有优化器接收它的参数）。",
        "layers": "层",
        "params_col": "参数",
        "fixed_cost": "峰值的大部分是固定的 cuBLAS 工作区，不是模型本身："
        "批次大小和精度对它影响很小。",
        "layer": "层",
        "type": "类型",
        "output": "输出形状",
        "line": "行",
        "more_layers": "……还有 {count} 层",
        "layer_title": "层 `{name}`：{type}",
        "layer_params": "参数：**{params}** 个（{exact}）",
        "layer_share": "占模型参数的 {share}",
        "layer_output": "输出形状（第一维是批次）：**{shape}**",
        "layer_shape_unknown": "输出形状未知：{reason}",
        "instances": "这一行有 {count} 个实例",
        "n_instances": "{count} 个实例",
        "instances_total": "这一行构建了 {count} 个实例，共 {params} 个参数：",
        "model_hint_tooltip": "{params} 个参数 · 权重 {size}（{precision}）",
        "params_total": "训练的模型参数共 **{params}** 个（{exact}）",
    },
}

#: The advice list of the memory hover: key → (English, Chinese). ``{batch}``, ``{half}``,
#: ``{peak}``... are filled in by the renderer; an entry whose numbers are unknown is shown
#: without them.
ADVICE: dict[str, tuple[str, str]] = {
    "half_batch": (
        "**Smaller batch**: batch {half} → {predicted}. Activations grow linearly with the "
        "batch; weights, gradients and optimizer state do not.",
        "**减小批次**：批次 {half} → {predicted}。激活值随批次线性增长；"
        "权重、梯度和优化器状态不变。",
    ),
    "amp_bf16": (
        "**Mixed precision (AMP bf16)**: `torch.autocast('cuda', dtype=torch.bfloat16)` → "
        "{predicted}. Most saved activations become 2 bytes; fp32 weights and optimizer state "
        "stay.",
        "**混合精度（AMP bf16）**：`torch.autocast('cuda', dtype=torch.bfloat16)` → {predicted}。"
        "大部分保存的激活值变成 2 字节；fp32 权重和优化器状态保持不变。",
    ),
    "accumulation": (
        "**Gradient accumulation**: run k smaller batches and call `optimizer.step()` once: "
        "memory of one small batch, the same effective batch.",
        "**梯度累积**：跑 k 个小批次再调用一次 `optimizer.step()`：显存只按一个小批次算，"
        "等效批次不变。",
    ),
    "checkpointing": (
        "**Activation checkpointing**: `torch.utils.checkpoint.checkpoint(block, x)` keeps only "
        "each block's input and recomputes the rest in backward (about a third more compute).",
        "**激活检查点**：`torch.utils.checkpoint.checkpoint(block, x)` 只保存每个块的输入，"
        "反向时重新计算其余部分（计算量约多三分之一）。",
    ),
    "downsample": (
        "**Downsample earlier**: a stride or pooling in the first layers shrinks every later "
        "activation (halving height and width quarters them); smaller input images do the same.",
        "**尽早降采样**：在前几层使用步长或池化，后面每一层的激活值都会变小（高宽减半，"
        "激活值变为四分之一）；缩小输入图像也一样。",
    ),
    "fewer_fc": (
        "**Fewer or smaller fully connected layers**: they hold most of the parameters, and "
        "every parameter also costs a gradient and the optimizer's state (four copies in all "
        "with Adam); in a CNN, a global average pool before the classifier instead of "
        "flattening a large feature map cuts them most.",
        "**减少或缩小全连接层**：参数大多在这些层里，而每个参数还要一份梯度和优化器状态"
        "（使用 Adam 时共四份）；在 CNN 中，分类器前用全局平均池化代替展开大特征图，效果最明显。",
    ),
    "optimizer": (
        "**Lighter optimizer state**: SGD with momentum keeps 1 buffer per parameter instead of "
        "Adam's 2; `fused=True` avoids the foreach temporary.",
        "**更轻的优化器状态**：带动量的 SGD 每个参数只保存 1 份缓冲区，Adam 要 2 份；"
        "`fused=True` 可以省掉 foreach 的临时张量。",
    ),
}

#: Advice order when activations dominate, and when weights/gradients/state dominate.
ADVICE_ACTIVATIONS: tuple[str, ...] = (
    "half_batch",
    "amp_bf16",
    "checkpointing",
    "downsample",
    "accumulation",
    "fewer_fc",
)
ADVICE_WEIGHTS: tuple[str, ...] = (
    "fewer_fc",
    "optimizer",
    "amp_bf16",
    "half_batch",
    "checkpointing",
    "accumulation",
)


def text(key: str, locale: str, **fmt: object) -> str:
    table = UI.get(locale, UI["en"])
    value = table.get(key) or UI["en"][key]
    return value.format(**fmt) if fmt else value


def term_label(term: str, locale: str) -> str:
    return TERM_LABELS.get(locale, TERM_LABELS["en"]).get(term, term.replace("_", " "))


def advice(key: str, locale: str, **fmt: object) -> str:
    en, zh = ADVICE[key]
    value = zh if locale == "zh-cn" else en
    return value.format(**fmt) if fmt else value
