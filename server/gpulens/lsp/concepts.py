"""What each training concept means and what it costs, in English and Simplified Chinese.

Plain data: the hover and tooltip code picks a text by concept and locale and never writes prose
of its own. Texts are short on purpose (a hover is read in a second or two) and practical: each
says what the value does to the run's length or memory.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Concept:
    title: str
    body: str


EN: dict[str, Concept] = {
    "batch_size": Concept(
        "Batch size",
        "Samples per forward/backward pass, i.e. per iteration. It sets the iteration count "
        "(iterations per epoch = samples / batch size, rounded up; down with `drop_last=True`) "
        "and the memory bill: activations saved for backward grow **linearly** with it, while "
        "weights, gradients and optimizer state do not. Halving it halves activation memory and "
        "doubles the iterations per epoch. Out of memory? Lower it, or keep the effective batch "
        "with gradient accumulation.",
    ),
    "iterations": Concept(
        "Iterations",
        "One iteration = one batch through forward and backward. Iterations per epoch = samples "
        "/ batch size; total = per epoch × epochs. With gradient accumulation over k batches "
        "the weights change once every k iterations (optimizer steps = iterations / k). "
        "Training time ≈ iterations × time per iteration.",
    ),
    "epochs": Concept(
        "Epochs",
        "How many times the whole training set is read. Every epoch costs the same number of "
        "iterations, so training time grows linearly with it; memory does not change. Too few "
        "epochs underfit, too many overfit: watch the validation loss.",
    ),
    "step_loop": Concept(
        "Step-based training loop",
        "This loop counts optimizer steps (or batches) directly instead of epochs: its bound is "
        "the number of iterations the script runs, whatever the dataset size.",
    ),
    "dataset": Concept(
        "Dataset",
        "The training samples. Its size is the numerator of the iteration count: twice the "
        "samples, twice the iterations per epoch. It does not change GPU memory per step "
        "(only the batch does), but its loading and augmentation can make the GPU wait.",
    ),
    "dataloader": Concept(
        "DataLoader",
        "Cuts the dataset into batches: `batch_size` samples per iteration, `shuffle` for a new "
        "order each epoch, `drop_last=True` to skip the last incomplete batch (iterations round "
        "down instead of up), `num_workers` to load in parallel so the GPU is not starved.",
    ),
    "learning_rate": Concept(
        "Learning rate",
        "The size of each weight update, the most sensitive hyper-parameter: too high and the "
        "loss diverges or oscillates, too low and training crawls. It costs no memory or time "
        "per step, but it decides how many steps you need. If you scale the batch size, the "
        "learning rate usually has to move with it (linear scaling for SGD is a common start).",
    ),
    "weight_decay": Concept(
        "Weight decay (regularization)",
        "Regularization: pulls weights toward zero (an L2-style penalty; decoupled from the "
        "gradient in AdamW) so the model relies less on any single weight and overfits less. "
        "Free in memory and time. Typical values: 1e-4 to 1e-2 (AdamW often 0.01-0.1).",
    ),
    "loss": Concept(
        "Loss function",
        "Measures how far predictions are from the targets; training minimises it. Pick it by "
        "task: cross-entropy for classification, MSE/L1 for regression, BCE-with-logits for "
        "multi-label. Its memory cost is small (the logits it reads are the big part).",
    ),
    "optimizer": Concept(
        "Optimizer",
        "Turns gradients into weight updates. Its state lives in GPU memory next to the "
        "weights, per parameter: plain SGD keeps nothing, SGD with momentum 1 tensor, Adam/AdamW "
        "2 (first and second moments). For fp32 weights: Adam ≈ 8 bytes per parameter on top of "
        "4 for the weights and 4 for the gradients.",
    ),
    "lr_scheduler": Concept(
        "Learning-rate schedule",
        "Changes the learning rate as training goes: step decay, cosine, warm-up then decay, "
        "one-cycle. Larger steps early, finer ones late. Check where `scheduler.step()` is "
        "called: per epoch and per iteration schedules count different things.",
    ),
    "dropout": Concept(
        "Dropout",
        "A regularizer: during training it zeroes each activation with probability p (and "
        "scales the rest by 1/(1-p)), so the network cannot lean on a few units. Off in "
        "`model.eval()`. No parameters; it keeps a mask per element for backward, which adds a "
        "little activation memory that grows with the batch.",
    ),
    "activation": Concept(
        "Activation function",
        "The non-linearity between layers (ReLU, GELU, SiLU, Sigmoid, Tanh) that lets the network "
        "represent more than a linear map. No parameters, but its output is saved for backward: "
        "activation memory grows with batch size (`inplace=True` ReLU saves a copy).",
    ),
    "grad_accum": Concept(
        "Gradient accumulation",
        "Adds the gradients of k batches before one optimizer step: effective batch = batch × k "
        "(× GPUs) at the memory cost of one batch. Iterations stay the same; weight updates "
        "become iterations / k.",
    ),
    "precision": Concept(
        "Precision",
        "Number format of the math. Mixed precision (autocast fp16/bf16) halves most activation "
        "memory and speeds up tensor-core GPUs; fp32 master weights and optimizer state remain. "
        "fp16 needs a `GradScaler`; bf16 does not.",
    ),
}

ZH: dict[str, Concept] = {
    "batch_size": Concept(
        "批次大小（Batch Size）",
        "每次前向 + 反向传播（即一次迭代）所用的样本数。它决定迭代次数（每个 epoch 的迭代次数 = "
        "样本数 / 批次大小，向上取整；设置 `drop_last=True` 时向下取整），也决定显存开销：为反向"
        "传播保存的激活值随批次大小**线性**增长，而权重、梯度和优化器状态与它无关。批次减半，激活"
        "显存减半，每个 epoch 的迭代次数翻倍。显存不够时先调小它，或用梯度累积保持等效批次。",
    ),
    "iterations": Concept(
        "迭代次数（Iterations）",
        "一次迭代 = 一个批次完成一次前向和反向传播。每个 epoch 的迭代次数 = 样本数 / 批次大小；"
        "总迭代次数 = 每个 epoch 的迭代次数 × epoch 数。梯度累积 k 个批次时，每 k 次迭代才更新一次"
        "权重（优化器步数 = 迭代次数 / k）。训练时间 ≈ 迭代次数 × 每次迭代的耗时。",
    ),
    "epochs": Concept(
        "循环次数（Epochs）",
        "整个训练集被完整遍历的次数。每个 epoch 的迭代次数相同，所以训练时间随它线性增长，"
        "显存不变。"
        "太少会欠拟合，太多会过拟合：留意验证集上的损失。",
    ),
    "step_loop": Concept(
        "按步数计的训练循环",
        "这个循环直接按优化器步数（或批次数）计数，而不是按 epoch：它的上限就是脚本运行的迭代次数，"
        "与数据集大小无关。",
    ),
    "dataset": Concept(
        "数据集（Dataset）",
        "训练样本。它的大小是迭代次数公式里的分子：样本翻倍，每个 epoch 的迭代次数也翻倍。它不改变"
        "每一步的显存（只有批次会），但数据读取和增强太慢会让 GPU 空等。",
    ),
    "dataloader": Concept(
        "数据加载器（DataLoader）",
        "把数据集切成批次：`batch_size` 是每次迭代的样本数，`shuffle` 让每个 epoch 顺序不同，"
        "`drop_last=True` 丢掉最后一个不完整的批次（迭代次数向下取整），"
        "`num_workers` 并行读取数据，"
        "避免 GPU 等数据。",
    ),
    "learning_rate": Concept(
        "学习率（Learning Rate）",
        "每次更新权重的幅度，是最敏感的超参数：太大损失会发散或震荡，太小训练进展缓慢。它不占显存、"
        "不增加每步耗时，但决定需要多少步才能收敛。调整批次大小时通常要相应调整学习率"
        "（SGD 常从线性缩放开始尝试）。",
    ),
    "weight_decay": Concept(
        "权重衰减（正则化）",
        "一种正则化：把权重往零拉（类似 L2 惩罚项；AdamW 中与梯度解耦），让模型不过分依赖个别权重，"
        "减少过拟合。不占显存，也不增加耗时。常见取值 1e-4 到 1e-2（AdamW 常用 0.01–0.1）。",
    ),
    "loss": Concept(
        "损失函数（Loss Function）",
        "衡量预测值与真实值的差距，训练就是让它变小。按任务选择：分类用交叉熵，回归用 MSE/L1，"
        "多标签用带 logits 的 BCE。它本身占用的显存很少（大头是它读取的 logits）。",
    ),
    "optimizer": Concept(
        "优化器（Optimizer）",
        "把梯度变成权重更新。它的状态和权重一起放在显存里，按参数计：普通 SGD 不保存状态，带动量的 "
        "SGD 每个参数 1 份，Adam/AdamW 2 份（一阶和二阶矩）。以 fp32 权重为例：Adam 在权重 4 字节、"
        "梯度 4 字节之外，每个参数还要约 8 字节。",
    ),
    "lr_scheduler": Concept(
        "学习率调度（LR Scheduling）",
        "在训练过程中调整学习率：阶梯衰减、余弦退火、先预热再衰减、one-cycle 等。前期步子大，后期"
        "微调。注意 `scheduler.step()` 的调用位置：按 epoch 调用和按迭代调用，计数的含义不同。",
    ),
    "dropout": Concept(
        "Dropout",
        "一种正则化：训练时以概率 p 把每个激活值置零（其余乘以 1/(1-p)），让网络不能依赖少数节点。"
        "`model.eval()` 时关闭。没有参数，但要为反向传播保存掩码，会增加少量随批次增长的激活显存。",
    ),
    "activation": Concept(
        "激活函数（Activation Function）",
        "层与层之间的非线性变换（ReLU、GELU、SiLU、Sigmoid、Tanh），让网络能表示线性映射之外的关系。"
        "没有参数，但输出要保存给反向传播：激活显存随批次大小增长"
        "（`inplace=True` 的 ReLU 可省一份）。",
    ),
    "grad_accum": Concept(
        "梯度累积（Gradient Accumulation）",
        "先把 k 个批次的梯度累加，再做一次优化器更新：等效批次 = 批次 × k（× GPU 数），显存只按一个"
        "批次算。迭代次数不变，权重更新次数变为迭代次数 / k。",
    ),
    "precision": Concept(
        "数值精度（Precision）",
        "计算使用的数值格式。混合精度（autocast fp16/bf16）让大部分激活显存减半，"
        "并在有 Tensor Core 的 GPU 上加速；fp32 的主权重和优化器状态仍然保留。"
        "fp16 需要 `GradScaler`，bf16 不需要。",
    ),
}

CONCEPTS: dict[str, dict[str, Concept]] = {"en": EN, "zh-cn": ZH}

#: Optimizer state tensors kept per parameter, by class name: (count, note en, note zh).
OPTIMIZER_STATE: dict[str, tuple[str, str, str]] = {
    "SGD": (
        "0 (1 with momentum)",
        "momentum_buffer, only with momentum",
        "momentum_buffer，仅在使用动量时",
    ),
    "Adam": ("2", "exp_avg and exp_avg_sq", "exp_avg 与 exp_avg_sq"),
    "AdamW": ("2", "exp_avg and exp_avg_sq", "exp_avg 与 exp_avg_sq"),
    "Adamax": ("2", "exp_avg and exp_inf", "exp_avg 与 exp_inf"),
    "NAdam": ("2", "exp_avg and exp_avg_sq", "exp_avg 与 exp_avg_sq"),
    "RAdam": ("2", "exp_avg and exp_avg_sq", "exp_avg 与 exp_avg_sq"),
    "RMSprop": (
        "1 (+1 with momentum, +1 if centered)",
        "square_avg",
        "square_avg",
    ),
    "Adagrad": ("1", "sum of squared gradients", "梯度平方和"),
    "Adadelta": ("2", "square_avg and acc_delta", "square_avg 与 acc_delta"),
    "Rprop": ("2", "prev and step_size", "prev 与 step_size"),
    "ASGD": ("1", "ax, the averaged weights", "ax（平均权重）"),
    "SparseAdam": ("2", "exp_avg and exp_avg_sq", "exp_avg 与 exp_avg_sq"),
    "LBFGS": (
        "2 × history_size",
        "history of past updates",
        "保存历史更新",
    ),
    "Adafactor": ("≈0 (factored row/col statistics)", "factored second moment", "分解的二阶矩"),
    "Lion": ("1", "exp_avg", "exp_avg"),
}

#: UI phrases, by locale. Keys are stable; texts are what users read.
UI: dict[str, dict[str, str]] = {
    "en": {
        "it_per_epoch": "it/epoch",
        "it": "it",
        "opt_steps": "opt steps",
        "opt_steps_title": "opt steps",
        "value": "Value",
        "source": "Source",
        "line": "line {line}",
        "unknown": "unknown",
        "why": "Why",
        "how_to_supply": "How to supply it",
        "pragma_hint": "add a pragma comment anywhere in the file, e.g. `{pragma}`",
        "setting_hint": 'or set `gpulens.overrides` to `{{"{name}": …}}` in the editor settings',
        "args_hint": "or give the script's arguments in `gpulens.scriptArgs` "
        "(or `args` in `.vscode/launch.json`)",
        "computation": "Computation",
        "facts": "Facts",
        "per_epoch_title": "Iterations per epoch",
        "total_title": "Iterations in all",
        "unknown_title": "Iteration count unknown",
        "stale": "Showing the last result that parsed; the current text has an error: {error}",
        "script_args": "Script arguments",
        "launch_source": "from `{file}` ({name})",
        "setting_source": "from the `gpulens.scriptArgs` setting",
        "meaning": "What it means",
        "detail": "Code",
        "optimizer_state": "Optimizer state per parameter: **{count}** ({note})",
        "cost_batch": "With {per_epoch} iterations per epoch at this batch size.",
        "diag_unknown": "gpulens: iteration count unknown: {reason}",
        "diag_fix": "Add `{pragma}` or set `gpulens.overrides`.",
        "effective_batch": "Effective batch: {value}",
        "samples": "samples",
    },
    "zh-cn": {
        "it_per_epoch": "it/epoch",
        "it": "it",
        "opt_steps": "opt steps",
        "opt_steps_title": "优化器更新步数",
        "value": "取值",
        "source": "来源",
        "line": "第 {line} 行",
        "unknown": "未知",
        "why": "原因",
        "how_to_supply": "如何补充",
        "pragma_hint": "在文件任意位置加一行注释，例如 `{pragma}`",
        "setting_hint": '或在编辑器设置中把 `gpulens.overrides` 设为 `{{"{name}": …}}`',
        "args_hint": "或在 `gpulens.scriptArgs`（或 `.vscode/launch.json` 的 `args`）"
        "中给出脚本参数",
        "computation": "计算过程",
        "facts": "已知事实",
        "per_epoch_title": "每个 epoch 的迭代次数",
        "total_title": "总迭代次数",
        "unknown_title": "迭代次数未知",
        "stale": "当前文本有错误（{error}），这里显示的是最后一次能解析的结果",
        "script_args": "脚本参数",
        "launch_source": "来自 `{file}`（{name}）",
        "setting_source": "来自设置 `gpulens.scriptArgs`",
        "meaning": "含义",
        "detail": "代码",
        "optimizer_state": "每个参数的优化器状态：**{count}** 份（{note}）",
        "cost_batch": "按这个批次大小，每个 epoch 需要 {per_epoch} 次迭代。",
        "diag_unknown": "gpulens：迭代次数未知：{reason}",
        "diag_fix": "可添加 `{pragma}` 或设置 `gpulens.overrides`。",
        "effective_batch": "等效批次：{value}",
        "samples": "个样本",
    },
}

#: Human names of facts, by locale (for tooltips and hover tables).
FACT_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "batch_size": "batch size",
        "epochs": "epochs",
        "dataset_size": "dataset size",
        "drop_last": "drop_last",
        "grad_accum_steps": "gradient accumulation steps",
        "world_size": "world size (GPUs)",
        "max_steps": "max steps",
        "precision": "precision",
        "optimizer": "optimizer",
        "learning_rate": "learning rate",
        "lr_scheduler": "LR scheduler",
        "loss": "loss",
        "weight_decay": "weight decay",
    },
    "zh-cn": {
        "batch_size": "批次大小",
        "epochs": "epoch 数",
        "dataset_size": "数据集大小",
        "drop_last": "drop_last",
        "grad_accum_steps": "梯度累积步数",
        "world_size": "GPU 数（world size）",
        "max_steps": "最大步数",
        "precision": "精度",
        "optimizer": "优化器",
        "learning_rate": "学习率",
        "lr_scheduler": "学习率调度器",
        "loss": "损失函数",
        "weight_decay": "权重衰减",
    },
}


def concept(kind: str, locale: str) -> Concept | None:
    return CONCEPTS.get(locale, EN).get(kind) or EN.get(kind)


def ui(key: str, locale: str, **fmt: object) -> str:
    text = UI.get(locale, UI["en"]).get(key) or UI["en"][key]
    return text.format(**fmt) if fmt else text


def fact_label(name: str, locale: str) -> str:
    return FACT_LABELS.get(locale, FACT_LABELS["en"]).get(name, name.replace("_", " "))
