"""Simplified Chinese for the reader's and the estimator's English texts, at render time.

The analysis and the estimator explain themselves in English (``Fact.source``, ``Fact.reason``,
``Iterations.explanation``, ``ModelSummary.reason``, ``MemoryEstimate.how``...): they stay pure
and English. A zh-CN hover passes those texts through :func:`localize`, which rebuilds each one
from an ordered table of phrase templates.

How a text is translated:

1. Code spans (```…```) are set aside first and come back untouched, as do numbers,
   identifiers, file names and units: the templates only match the words around them.
2. A whole text, or a part of one, is matched against :data:`PHRASES`, in order. A template is
   English with typed slots (``{code}`` a code span, ``{n}`` a number, ``{size}`` a byte size,
   ``{name}`` an identifier, flag or path, ``{x}`` any words kept as they are, ``{t}`` a nested
   phrase translated in turn); the first template whose slots all translate wins.
3. Otherwise the text is split where the reader's English joins phrases: ``"; "``, ``" with "``,
   ``": "``, ``", "`` and a trailing ``" (…)"``, each part translated on its own (so
   ``"`X`, line 17 with `Y = 1`, line 3"`` becomes ``"`X`，第 17 行，其中 `Y = 1`，第 3 行"``).
4. A text clipped by the reader (ending in ``…``) keeps the part that translates, then ``…``.

Any text (or clipped remainder) that does not translate completely is shown in English, whole:
never half-translated words, never an exception, nothing logged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: Code spans are replaced by these markers (private-use characters) while translating.
_OPEN, _CLOSE = "\ue000", "\ue001"
_CODE_SPAN = re.compile(r"``.+?``|`[^`]*`|`[^`]*$")
_MARK = re.compile(_OPEN + r"(\d+)" + _CLOSE)

_NUMBER = r"[-+]?\d+(?:[,_]\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?%?"
#: What each slot type matches (a slot is named by its type plus an optional digit).
_SLOTS: dict[str, str] = {
    "code": _OPEN + r"\d+" + _CLOSE,
    "n": _NUMBER,
    "size": _NUMBER + r" ?(?:B|KiB|MiB|GiB|TiB|KB|MB|GB)",
    "name": r"[^\s;,:()" + _OPEN + r"]+",
    "file": r"[\w./-]+\.(?:ya?ml|json|toml|cfg|ini|py)",
    "x": r"[^" + _OPEN + r"]+?",
    "t": r".+?",
}
_SLOT = re.compile(r"\{([a-z]+)(\d?)\}")


@dataclass(frozen=True)
class Phrase:
    """One English template (compiled) and its Chinese."""

    english: str
    chinese: str
    pattern: re.Pattern[str]
    nested: tuple[str, ...]


def _compile(english: str, chinese: str) -> Phrase:
    parts: list[str] = []
    nested: list[str] = []
    pos = 0
    for match in _SLOT.finditer(english):
        parts.append(re.escape(english[pos : match.start()]))
        kind, digit = match.group(1), match.group(2)
        group = kind + digit
        parts.append(f"(?P<{group}>{_SLOTS[kind]})")
        if kind == "t":
            nested.append(group)
        pos = match.end()
    parts.append(re.escape(english[pos:]))
    return Phrase(english, chinese, re.compile("".join(parts), re.DOTALL), tuple(nested))


#: English phrase template → Chinese, tried in order (specific phrases before general ones).
#: Words the primer and :mod:`gpulens.lsp.concepts` use: 批次 / 批次大小, 迭代, epoch, 样本,
#: 数据集, 显存, 优化器, 学习率, 权重更新, 梯度累积.
_TABLE: tuple[tuple[str, str], ...] = (
    # -- where a value was read ------------------------------------------------------------
    ("line {n}", "第 {n} 行"),
    ("lines {n}-{n2}", "第 {n}-{n2} 行"),
    ("pragma", "pragma 注释"),
    ("user setting", "用户设置"),
    ("user setting (number of GPUs)", "用户设置（GPU 数）"),
    ("world_size setting", "world_size 设置"),
    ("dataset_size you supplied", "你给出的 dataset_size"),
    ("argparse default of {name}", "argparse 参数 {name} 的默认值"),
    ("argparse flag {name} (off unless given)", "argparse 开关 {name}（不给出时为关）"),
    ("argparse flag {name} (on unless given)", "argparse 开关 {name}（不给出时为开）"),
    ("argparse {name} has no default", "argparse 参数 {name} 没有默认值"),
    ("argparse namespace", "argparse 命名空间"),
    ("script argument {x} (applied by {t})", "脚本参数 {x}（由 {t} 应用）"),
    ("script argument {x} (Hydra override)", "脚本参数 {x}（Hydra 覆盖）"),
    ("script argument {name} ({name2})", "脚本参数 {name}（{name2}）"),
    ("script argument {x}", "脚本参数 {x}"),
    ("sys.argv (the script arguments you supplied)", "sys.argv（你给出的脚本参数）"),
    ("the script path", "脚本路径"),
    ("the script run as __main__", "作为 __main__ 运行的脚本"),
    ("default of environment variable {name}", "环境变量 {name} 的默认值"),
    (
        "what a plain {code} run without a launcher sees",
        "不用启动器、直接用 {code} 运行时看到的值",
    ),
    (
        "environment variable {name} (from the world_size setting)",
        "环境变量 {name}（来自 world_size 设置）",
    ),
    (
        "environment variable {name} is not set by a plain {code} run",
        "直接用 {code} 运行时不会设置环境变量 {name}",
    ),
    (
        "environment variable {name} is set by the launcher at run time",
        "环境变量 {name} 在运行时由启动器设置",
    ),
    ("an environment variable chosen at run time", "运行时才选定的环境变量"),
    ("default of parameter {code} of {name}()", "{name}() 的参数 {code} 的默认值"),
    ("default of {name}", "{name} 的默认值"),
    ("default lr of {name}", "{name} 的默认 lr"),
    ("default in {code}", "{code} 中的默认值"),
    ("default {name}", "默认 {name}"),
    ("{code} passed to {code2}", "传给 {code2} 的 {code}"),
    ("{code}, argument {n} of {code2}", "{code2} 的第 {n} 个参数：{code}"),
    ("{code}, argument {n} ({code2}) of {code3}", "{code3} 的第 {n} 个参数（{code2}）：{code}"),
    ("{code} key", "键 {code}"),
    ("{code} in dict(…)", "dict(…) 中的 {code}"),
    ("{code} in update()", "update() 中的 {code}"),
    ("dict(…)", "dict(…)"),
    ("{name}(…) argument {name2}", "{name}(…) 的参数 {name2}"),
    ("{name} dataclass", "{name} 数据类"),
    ("class {name}", "类 {name}"),
    ("function {name}", "函数 {name}"),
    ("return {x}", "return {x}"),
    ("{t} at line {n}", "{t}（第 {n} 行）"),
    ("{t}, dtype from {t2}", "{t}，dtype 来自 {t2}"),
    ("tensor {code}", "张量 {code}"),
    ("first dimension of {code}", "{code} 的第一维"),
    ("micro-step loop {t}", "微步循环 {t}"),
    ("Hydra config {name}", "Hydra 配置 {name}"),
    ("Hydra config {file}: {x}", "Hydra 配置 {file} 中的 `{x}`"),
    ("{file}: {x}", "{file} 中的 `{x}`"),  # a config file and the key path read from it
    ("OmegaConf config", "OmegaConf 配置"),
    ("Hugging Face TrainingArguments", "Hugging Face TrainingArguments"),
    (
        "Hugging Face default max_steps=-1 (train by epochs)",
        "Hugging Face 默认 max_steps=-1（按 epoch 训练）",
    ),
    ("Hugging Face default {name}", "Hugging Face 默认 {name}"),
    ("Hugging Face dataset", "Hugging Face 数据集"),
    (
        "the Hugging Face Trainer uses the model's own loss",
        "Hugging Face Trainer 使用模型自带的损失函数",
    ),
    ("the Trainer builds it", "由 Trainer 构建"),
    ("Lightning {code}", "Lightning {code}"),
    ("{name} not set", "未设置 {name}"),
    ("no max_epochs, so max_steps ends training", "没有 max_epochs，由 max_steps 结束训练"),
    (
        "Lightning's default max_epochs (1000 when neither max_epochs nor max_steps is set)",
        "Lightning 的默认 max_epochs（max_epochs 和 max_steps 都未设置时为 1000）",
    ),
    ("{t} has devices='auto'", "{t} 设置了 devices='auto'"),
    ("every visible GPU", "使用所有可见 GPU"),
    ("devices={x} is not a count", "devices={x} 不是一个数量"),
    ("a plain {code} run is one process", "直接用 {code} 运行只有一个进程"),
    ("torchrun --nproc_per_node sets more", "torchrun --nproc_per_node 可以设置更多"),
    ("assumed {n}", "假定为 {n}"),
    ("assumed", "假定"),
    ("rank 0", "rank 0"),
    ("the reader follows the first process", "gpulens 按第一个进程读取"),
    ("the script runs on a CUDA GPU", "脚本运行在 CUDA GPU 上"),
    ("the GPU supports bfloat16 (Ampere or newer)", "GPU 支持 bfloat16（Ampere 或更新的架构）"),
    ("float16 by default on CUDA", "CUDA 上默认 float16"),
    ("{t} on CPU (bfloat16 by default)", "{t}，在 CPU 上（默认 bfloat16）"),
    ("loss scaling is for float16 AMP", "损失缩放用于 float16 AMP"),
    (
        "mixed precision ({t}) with a dtype the reader cannot tell",
        "混合精度（{t}），但 gpulens 无法确定 dtype",
    ),
    ("unrecognised dtype", "无法识别的 dtype"),
    # -- data -------------------------------------------------------------------------------
    (
        "torchvision {name}, {name2} split: {n} samples",
        "torchvision {name}，{name2} 划分：{n} 个样本",
    ),
    ("torchvision {name}: {n} samples", "torchvision {name}：{n} 个样本"),
    ("torchvision {name}", "torchvision {name}"),
    ("{name} of {n} samples", "{name}，共 {n} 个样本"),
    ("{name}.__len__ returns {n}", "{name}.__len__ 返回 {n}"),
    ("{n} samples split over {n2} processes", "{n} 个样本分给 {n2} 个进程"),
    ("len(DataLoader): {n} samples / batch {n2}", "len(DataLoader)：{n} 个样本 / 批次 {n2}"),
    ("random_split part {n}: {n2} samples", "random_split 第 {n} 部分：{n2} 个样本"),
    ("lengths", "按长度"),
    ("fractions", "按比例"),
    ("{n} images in {n2} class folders of {x}", "{x} 中 {n2} 个类别文件夹，共 {n} 张图片"),
    ("ImageFolder root", "ImageFolder 根目录"),
    ("counted on disk", "在磁盘上统计"),
    ("the folder {x} does not exist here", "文件夹 {x} 在这里不存在"),
    (
        "{x} has no class sub-folders (ImageFolder needs root/class/img.png)",
        "{x} 没有类别子文件夹（ImageFolder 需要 root/class/img.png 结构）",
    ),
    (
        "{x} holds too many files to count quickly (stopped at {n})",
        "{x} 文件太多，无法快速统计（在 {n} 处停止）",
    ),
    ("DataLoader default {name}", "DataLoader 默认 {name}"),
    ("DataLoader, line {n}", "DataLoader，第 {n} 行"),
    ("DataLoader without a dataset", "没有数据集的 DataLoader"),
    ("batches come from a batch_sampler", "批次来自 batch_sampler"),
    ("batch_size=None: one sample at a time ({t})", "batch_size=None：每次一个样本（{t}）"),
    ("no DataLoader", "没有 DataLoader"),
    ("no DataLoader found in the script", "脚本中没有找到 DataLoader"),
    ("the DataLoader could not be read", "无法读取这个 DataLoader"),
    ("no training DataLoader the reader can follow", "没有 gpulens 能跟踪的训练 DataLoader"),
    ("data the reader cannot follow", "gpulens 无法跟踪的数据"),
    (
        "the sizes of Hugging Face datasets are not in gpulens' table",
        "gpulens 的数据表中没有 Hugging Face 数据集的大小",
    ),
    (
        "{name} has no split {name2} in gpulens' table ({x})",
        "gpulens 的数据表中 {name} 没有 {name2} 划分（{x}）",
    ),
    ("{name} needs split=", "{name} 需要 split="),
    ("{name}: unsupported split selector", "{name}：不支持的划分选择方式"),
    ("{code} of {name}", "{name} 的 {code}"),
    ("{code} is an IterableDataset: it has no length", "{code} 是 IterableDataset：没有长度"),
    ("{code} has no {code2} the reader can follow", "{code} 没有 gpulens 能跟踪的 {code2}"),
    ("{code} has no return the reader can follow", "{code} 没有 gpulens 能跟踪的 return"),
    ("the {name} has no dataset the reader can see", "这个 {name} 没有 gpulens 能看到的数据集"),
    ("the size of {t} is not known", "{t} 的大小未知"),
    ("the first dimension of {t} is not known", "{t} 的第一维未知"),
    ("the length of {t} is not known statically", "{t} 的长度无法静态确定"),
    ("the number of processes is not known", "进程数未知"),
    ("batch size {n} is not a positive integer", "批次大小 {n} 不是正整数"),
    ("fractions do not sum to 1", "比例之和不等于 1"),
    ("no tensors given", "没有给出张量"),
    ("first dimension unknown", "第一维未知"),
    ("a tensor size the reader cannot fold", "gpulens 无法计算的张量大小"),
    ("a part with unknown size", "有一部分大小未知"),
    ("parts not known", "各部分未知"),
    ("WeightedRandomSampler(num_samples={n})", "WeightedRandomSampler(num_samples={n})"),
    # -- loops, epochs, steps, world size ---------------------------------------------------
    (
        "one pass over the data (line {n}, no epoch loop)",
        "遍历一次数据（第 {n} 行，没有 epoch 循环）",
    ),
    ("not used: {t}", "未使用：{t}"),
    ("max_steps={n} overrides num_train_epochs", "max_steps={n} 覆盖了 num_train_epochs"),
    ("the script trains by epochs", "脚本按 epoch 训练"),
    ("the script trains for a number of steps", "脚本按步数训练"),
    (
        "no training loop found (a loop that calls loss.backward() or optimizer.step())",
        "没有找到训练循环（即调用 loss.backward() 或 optimizer.step() 的循环）",
    ),
    ("no training loop found", "没有找到训练循环"),
    ("{code} is not a range the reader can count", "{code} 不是 gpulens 能计数的 range"),
    (
        "the training loop {code} has no step-count condition the reader can follow",
        "训练循环 {code} 没有 gpulens 能跟踪的步数条件",
    ),
    ("the start value of {code}", "{code} 的起始值"),
    ("not an integer", "不是整数"),
    (
        "single process: no DistributedSampler or DDP found",
        "单进程：没有找到 DistributedSampler 或 DDP",
    ),
    (
        "one process when run with python: {code} (line {n}) shards the DataLoader over "
        "{code2}'s processes",
        "用 python 直接运行时是单进程：{code}（第 {n} 行）会把 DataLoader 分到 {code2} "
        "启动的各个进程上",
    ),
    (
        "DistributedSampler splits the data across processes, and the process count comes from "
        "the launcher (torchrun --nproc_per_node)",
        "DistributedSampler 把数据分给各个进程，而进程数由启动器决定（torchrun --nproc_per_node）",
    ),
    (
        "the script uses DistributedDataParallel",
        "脚本使用了 DistributedDataParallel",
    ),
    (
        "the process count comes from the launcher (torchrun --nproc_per_node)",
        "进程数由启动器决定（torchrun --nproc_per_node）",
    ),
    (
        "the process count comes from the launcher (torchrun --nproc_per_node) at run time",
        "进程数在运行时由启动器决定（torchrun --nproc_per_node）",
    ),
    ("no gradient accumulation found", "没有找到梯度累积"),
    ("one update per batch", "每个批次更新一次权重"),
    ("no autocast or dtype cast found", "没有找到 autocast 或 dtype 转换"),
    ("{code} at line {n} has {code2} here", "第 {n} 行的 {code} 在这里是 {code2}"),
    ("no learning-rate scheduler found", "没有找到学习率调度器"),
    ("the learning rate stays constant unless set by hand", "除非手动修改，学习率保持不变"),
    ("no torch.nn loss or F.* loss function found", "没有找到 torch.nn 或 F.* 损失函数"),
    (
        "no torch.optim optimizer is constructed in this file",
        "这个文件中没有构造 torch.optim 优化器",
    ),
    ("no optimizer with an lr found", "没有找到带 lr 的优化器"),
    ("{name} has no lr the reader can see", "{name} 没有 gpulens 能看到的 lr"),
    ("no Trainer(train_dataset=...) found", "没有找到 Trainer(train_dataset=...)"),
    ("Trainer(train_dataset=...) not found", "没有找到 Trainer(train_dataset=...)"),
    # -- why a value is unknown ---------------------------------------------------------------
    ("not found in the script", "脚本中没有找到"),
    ("not found", "没有找到"),
    ("not analysed", "未分析"),
    ("not readable statically", "无法静态读取"),
    ("{name} is unknown", "{name} 未知"),
    ("{name} = {x} is not a number", "{name} = {x} 不是数字"),
    ("{name} = {x} is not a whole number", "{name} = {x} 不是整数"),
    ("batch_size = {x} is not positive", "batch_size = {x} 不是正数"),
    ("add {code} or pass {code2}", "可添加 {code} 或传入 {code2}"),
    ("add {code} to the script or pass {code2}", "可在脚本中添加 {code} 或传入 {code2}"),
    ("add {code}", "可添加 {code}"),
    ("the positional argument {code} is required", "缺少必需的位置参数 {code}"),
    ("supply it as a script argument", "请作为脚本参数给出"),
    ("{code} is not defined in this file", "{code} 没有在这个文件中定义"),
    ("{code} is not defined", "{code} 没有定义"),
    (
        "{code} comes from {code2}, which gpulens does not read (only this file)",
        "{code} 来自 {code2}，gpulens 不读取它（只读当前文件）",
    ),
    (
        "{code} comes from {code2}, which gpulens does not read (only this file and the modules"
        " beside it)",
        "{code} 来自 {code2}，gpulens 不读取它（只读当前文件和它旁边的模块）",
    ),
    (
        "{code} comes from {code2}, which gpulens could not follow (it does not parse, or {code3}"
        " is not defined there as a class or function)",
        "{code} 来自 {code2}，gpulens 无法跟踪它（它无法解析，"
        "或其中没有把 {code3} 定义为类或函数）",
    ),
    ("{code} is only known when the script runs", "{code} 要到脚本运行时才知道"),
    (
        "{code} depends on {code2}, which is only known when the script runs",
        "{code} 取决于 {code2}，要到脚本运行时才知道",
    ),
    (
        "{code} depends on {code2} (line {n}), which is only known when the script runs",
        "{code} 取决于 {code2}（第 {n} 行），要到脚本运行时才知道",
    ),
    (
        "{code} returns depending on {code2} (line {n}), which is only known when the script runs",
        "{code} 的返回值取决于 {code2}（第 {n} 行），要到脚本运行时才知道",
    ),
    ("{code} is not readable statically", "{code} 无法静态读取"),
    ("{code} cannot be folded", "{code} 无法静态计算"),
    ("{code} cannot be folded ({t})", "{code} 无法静态计算（{t}）"),
    ("{code} cannot be indexed statically", "{code} 无法静态索引"),
    ("{code} cannot be sliced statically", "{code} 无法静态切片"),
    ("{code} cannot be decided", "{code} 无法静态判定"),
    ("{code} combines values the reader cannot fold", "{code} 组合了 gpulens 无法计算的值"),
    ("{code} divides by zero", "{code} 除以零"),
    ("{code} has non-integer bounds", "{code} 的边界不是整数"),
    ("{code} needs run-time values", "{code} 需要运行时的值"),
    ("{code} fails on {x}", "{code} 在 {x} 上出错"),
    ("{code} is not set in the class", "{code} 没有在类中设置"),
    ("{code} is not set in the class body", "{code} 没有在类体中设置"),
    ("{code} is not set on this {name}", "{code} 没有在这个 {name} 上设置"),
    ("{code} is not in the config", "{code} 不在配置中"),
    ("{code} is not a setting of the script", "{code} 不是脚本的设置项"),
    (
        "{code} is a parameter of {code2} and no call to it was found",
        "{code} 是 {code2} 的参数，但没有找到对它的调用",
    ),
    ("{code} is called with different values of {code2}", "{code} 被用不同的 {code2} 值调用"),
    ("{code} is defined in terms of itself (line {n})", "{code} 用它自身定义（第 {n} 行）"),
    ("{code} is a loop variable (line {n})", "{code} 是循环变量（第 {n} 行）"),
    ("{code} is bound by {code2} (line {n})", "{code} 由 {code2} 绑定（第 {n} 行）"),
    (
        "{code} is bound by {code2}/{code3} (line {n})",
        "{code} 由 {code2}/{code3} 绑定（第 {n} 行）",
    ),
    ("{code} has no default value (line {n})", "{code} 没有默认值（第 {n} 行）"),
    ("{code} (line {n}) is not readable statically", "{code}（第 {n} 行）无法静态读取"),
    (
        "{code} changes on every loop iteration (line {n})",
        "{code} 在每次循环中都会改变（第 {n} 行）",
    ),
    ("{code} is updated before it is set (line {n})", "{code} 在赋值之前就被更新（第 {n} 行）"),
    (
        "{code} is changed before the reader knows what it is",
        "{code} 在 gpulens 得知它的值之前就被修改",
    ),
    ("{code} (line {n}) adds unknown keys", "{code}（第 {n} 行）添加了未知的键"),
    ("{code} may come from {code2}", "{code} 可能来自 {code2}"),
    ("{code} does not match {code2}", "{code} 与 {code2} 不匹配"),
    ("{code} returns nothing the reader can follow", "{code} 没有 gpulens 能跟踪的返回值"),
    ("{code} uses a default_factory", "{code} 使用了 default_factory"),
    ("the slice bounds of {code} are not known", "{code} 的切片边界未知"),
    ("key {x} is not in the dict", "键 {x} 不在字典中"),
    ("key {x} is not set", "键 {x} 未设置"),
    ("index {x} is out of range", "索引 {x} 越界"),
    ("class body not found", "没有找到类体"),
    ("the expression is too deeply nested to follow", "表达式嵌套太深，无法跟踪"),
    (
        "the script is too intricate to follow in the time allowed",
        "脚本太复杂，无法在限定时间内跟踪",
    ),
    ("the string is too long to read", "字符串太长，无法读取"),
    ("the number is too large to read", "数字太大，无法读取"),
    ("number too large to fold", "数字太大，无法计算"),
    ("a format string the reader cannot apply", "gpulens 无法展开的格式字符串"),
    ("vars() of something the reader cannot follow", "对 gpulens 无法跟踪的对象调用 vars()"),
    ("dict() of something the reader cannot follow", "对 gpulens 无法跟踪的对象调用 dict()"),
    (
        "parse_args() over an argument list the reader cannot see",
        "parse_args() 的参数列表 gpulens 看不到",
    ),
    ("parse_args() over arguments only known at run time", "parse_args() 的参数要到运行时才知道"),
    ("unrecognised argument {x}", "无法识别的参数 {x}"),
    ("{name} expects a value", "{name} 需要一个值"),
    ("extra argument {x}", "多余的参数 {x}"),
    ("extra arguments", "多余的参数"),
    ("missing argument", "缺少参数"),
    ("a path built from unknown parts", "由未知部分拼成的路径"),
    ("{name} of a file the reader cannot see", "gpulens 看不到的文件的 {name}"),
    ("the config file {x} does not exist here", "配置文件 {x} 在这里不存在"),
    ("config file {x} (script argument) not found", "没有找到配置文件 {x}（脚本参数）"),
    ("config file {x} could not be read", "无法读取配置文件 {x}"),
    ("exec at line {n}", "第 {n} 行的 exec"),
    ("the config path is not known", "配置路径未知"),
    ("{name} not found", "没有找到 {name}"),
    (
        "{name} (not found; read as nanoGPT's configurator)",
        "{name}（没有找到；按 nanoGPT 的 configurator 读取）",
    ),
    (
        "@hydra.main without config_name: the config is built at run time",
        "@hydra.main 没有 config_name：配置在运行时构建",
    ),
    ("the script could not be read", "无法读取脚本"),
    ("the file is nested too deeply to read", "文件嵌套太深，无法读取"),
    ("syntax error at line {n}", "第 {n} 行有语法错误"),
    # Python's own message, quoted as it is (a code span).
    (
        "syntax error at line {n}: {x} (analysed the rest)",
        "第 {n} 行有语法错误：`{x}`（其余部分已分析）",
    ),
    ("cannot parse the file: {x}", "无法解析文件：`{x}`"),
    ("internal error in the reader: {x}", "读取器内部错误：`{x}`"),
    ("internal error in the model reader: {x}", "模型读取器内部错误：`{x}`"),
    ("analysed the rest", "其余部分已分析"),
    ("random_split lengths", "random_split 的长度"),
    ("Subset indices", "Subset 的索引"),
    ("ConcatDataset part", "ConcatDataset 的一部分"),
    ("cannot list {x}", "无法列出 {x}"),
    ("not a number", "不是数字"),
    ("not a list", "不是列表"),
    ("not a string", "不是字符串"),
    ("not a path", "不是路径"),
    ("not read", "未读取"),
    ("zero step", "步长为零"),
    ("bounds not known", "边界未知"),
    ("numpy default num=50", "numpy 默认 num=50"),
    ("concatenated along another dimension", "沿其他维度拼接"),
    (
        "{code} (line {n}) is not a range the reader can count",
        "{code}（第 {n} 行）不是 gpulens 能计数的 range",
    ),
    (
        "the training loop {code} (line {n}) has no step-count condition the reader can follow",
        "训练循环 {code}（第 {n} 行）没有 gpulens 能跟踪的步数条件",
    ),
    ("from {code}", "来自 {code}"),
    ("{name}: a {name2} is not callable", "{name}：{name2} 不可调用"),
    ("indexing with {code}", "用 {code} 索引"),
    ("tensor operator {name}", "张量运算符 {name}"),
    ("{name}() decided at run time", "{name}() 要到运行时才能确定"),
    ("{name}() of a tensor", "张量的 {name}()"),
    ("{name} of values not followed", "gpulens 没有跟踪的值的 {name}"),
    ("{name} of a dimension not known", "未知维度的 {name}"),
    ("{name} of a value not followed", "gpulens 没有跟踪的值的 {name}"),
    ("@ with a non-tensor", "@ 的操作数不是张量"),
    ("config too large", "配置太大"),
    ("{name} is not a mapping", "{name} 不是映射"),
    ("defaults list the reader cannot follow", "gpulens 无法跟踪的 defaults 列表"),
    ("defaults entry the reader cannot follow", "gpulens 无法跟踪的 defaults 条目"),
    ("Hydra config {x} could not be read", "无法读取 Hydra 配置 {x}"),
    ("Hydra {name}", "Hydra {name}"),
    ("{x} is not a value the model reader follows", "{x} 不是模型读取器能跟踪的值"),
    ("cannot iterate over {name}", "无法遍历 {name}"),
    ("list.{name} not followed", "gpulens 没有跟踪 list.{name}"),
    ("dict.{name} not followed", "gpulens 没有跟踪 dict.{name}"),
    ("{name}() of an iterator", "迭代器的 {name}()"),
    ("cannot fold ({t})", "无法计算（{t}）"),
    ("{name} is not known", "{name} 未知"),
    ("tensor data", "张量数据"),
    ("eye size", "eye 的大小"),
    ("range bounds not integers", "range 的边界不是整数"),
    ("{name}() of a value not known", "未知值的 {name}()"),
    ("{name}() not folded", "无法计算 {name}()"),
    ("arange bounds", "arange 的边界"),
    ("pop of empty", "从空容器中 pop"),
    ("range() with a zero step", "步长为零的 range()"),
    ("{name}: {x} is not a valid {name2}", "{name}：{x} 不是有效的 {name2}"),
    ("a list with unknown items", "含未知元素的列表"),
    ("{x} is too large to read", "{x} 太大，无法读取"),
    ("{x} could not be read", "无法读取 {x}"),
    ("not a method call", "不是方法调用"),
    ("an exception being raised", "抛出的异常"),
    ("string too large to fold", "字符串太大，无法计算"),
    ("passed with *args", "通过 *args 传入"),
    ("arguments passed with *args", "通过 *args 传入的参数"),
    ("no value", "没有值"),
    ("no operator", "没有运算符"),
    ("an indexed tensor", "索引得到的张量"),
    ("a sliced tensor", "切片得到的张量"),
    ("unknown function", "未知函数"),
    ("unknown receiver", "未知的调用对象"),
    ("{t} (if {x})", "{t}（当 {x} 时）"),
    ("the object the method is called on", "方法的调用对象"),
    ("a starred element", "带星号的元素"),
    ("not a plain value", "不是普通值"),
    ("membership in a partly unknown list", "部分未知的列表中的成员关系"),
    ("unsupported YAML syntax {x}", "不支持的 YAML 语法 {x}"),
    ("unterminated flow list", "未结束的流式列表"),
    ("unterminated flow map", "未结束的流式映射"),
    ("unexpected indentation", "意外的缩进"),
    ("unterminated string {x}", "未结束的字符串 {x}"),
    ("flow map entry without ':'", "流式映射条目缺少 ':'"),
    ("tab indentation", "用 Tab 缩进"),
    ("expected {code}, got {x}", "应为 {code}，实际为 {x}"),
    ("unterminated key", "未结束的键"),
    ("several YAML documents", "多个 YAML 文档"),
    ("mappings inside lists are not supported", "不支持列表中的映射"),
    ("local GPU {n} (NVML): {x}", "本机 GPU {n}（NVML）：{x}"),
    ("under {n} of usable memory", "不超过可用显存的 {n}"),
    ("with {n} headroom", "预留 {n}"),
    ("even batch_size=1 does not fit {x}", "即使 batch_size=1 也放不下 {x}"),
    ("largest batch_size {t}", "最大 batch_size {t}"),
    ("batch_size={n} needs ≈ {size}", "batch_size={n} 需要 ≈ {size}"),
    ("{x}: {size} usable ({n})", "{x}：可用 {size}（{n}）"),
    ("tensor {n}", "张量 {n}"),
    # -- iteration arithmetic (``Iterations.explanation``) ---------------------------------------
    (
        "{n} samples / batch {n2} = {n3} per epoch",
        "{n} 个样本 / 批次 {n2} = 每个 epoch {n3} 次迭代",
    ),
    ("{n} / batch {n2} = {n3} per epoch", "{n} / 批次 {n2} = 每个 epoch {n3} 次迭代"),
    (
        "{n} samples / batch {n2} = {n3} per pass over the data",
        "{n} 个样本 / 批次 {n2} = 遍历一次数据 {n3} 次迭代",
    ),
    (
        "{n} / batch {n2} = {n3} per pass over the data",
        "{n} / 批次 {n2} = 遍历一次数据 {n3} 次迭代",
    ),
    ("{n} samples / {n2} processes = {n3} each", "{n} 个样本 / {n2} 个进程 = 每个进程 {n3} 个"),
    ("drop_last drops the partial batch", "drop_last 丢弃最后一个不完整的批次"),
    ("× {n} epochs = {n2} iterations", "× {n} 个 epoch = {n2} 次迭代"),
    ("× {n} epoch = {n2} iterations", "× {n} 个 epoch = {n2} 次迭代"),
    ("× {n} epochs = {n2} weight updates", "× {n} 个 epoch = 权重更新 {n2} 次"),
    ("{n} weight updates", "权重更新 {n} 次"),
    ("{n} iterations", "{n} 次迭代"),
    (
        "stops after max_steps={n} weight updates = {n2} iterations",
        "max_steps={n} 次权重更新后停止 = {n2} 次迭代",
    ),
    ("max_epochs ends it first", "max_epochs 先结束训练"),
    ("max_epochs ends it first = {n} iterations", "max_epochs 先结束训练，共 {n} 次迭代"),
    (
        "the loop breaks after {n} weight updates (max_steps) = {n2} iterations",
        "循环在权重更新 {n} 次后跳出（max_steps）= {n2} 次迭代",
    ),
    ("the loop breaks after {n} iterations (max_steps)", "循环在 {n} 次迭代后跳出（max_steps）"),
    (
        "ceil({n} / {n2} accumulation steps) = {n3} updates per epoch",
        "ceil({n} / {n2} 个累积步) = 每个 epoch 更新 {n3} 次",
    ),
    (
        "{n} // {n2} accumulation steps = {n3} updates per epoch",
        "{n} // {n2} 个累积步 = 每个 epoch 更新 {n3} 次",
    ),
    ("{t}, × {n} = {n2} weight updates", "{t}，× {n} = 权重更新 {n2} 次"),
    ("/ {n} accumulation steps = {n2} weight updates", "/ {n} 个累积步 = 权重更新 {n2} 次"),
    ("limit_train_batches={x} → {n}", "limit_train_batches={x} → {n}"),
    ("the step loop runs {x} = {n} iterations", "按步数的循环运行 {x} = {n} 次迭代"),
    (
        "each {n} micro-batches accumulated into one weight update",
        "每 {n} 个微批次累积为一次权重更新",
    ),
    # -- models and shapes ----------------------------------------------------------------------
    ("the input shape is not known", "输入形状未知"),
    (
        "the samples of {code} have a shape the reader does not know",
        "{code} 的样本形状 gpulens 不知道",
    ),
    ("{code} is not a dataset the reader follows", "{code} 不是 gpulens 能跟踪的数据集"),
    (
        "{name} images vary in size and no Resize/Crop transform fixes it",
        "{name} 的图片尺寸不一，且没有 Resize/Crop 变换把尺寸固定下来",
    ),
    (
        "in_features is inferred from the first input (materialize())",
        "in_features 由第一次输入推断（materialize()）",
    ),
    (
        "{code} builds the model at run time (weights or config loaded then)",
        "{code} 在运行时才构建模型（届时加载权重或配置）",
    ),
    ("gpulens reads only this file", "gpulens 只读取当前文件"),
    (
        "no model the script trains was found (a model passed to an optimizer)",
        "没有找到脚本训练的模型（即传给优化器的模型）",
    ),
    ("forward() not followed", "未跟踪 forward()"),
    ("shape of {name} is not known statically", "{name} 的形状无法静态确定"),
    ("{name} is not known statically", "{name} 无法静态确定"),
    ("the layers are chained in declaration order instead", "改为按声明顺序把各层串起来"),
    ("forward() returns None", "forward() 返回 None"),
    ("forward() returns an empty tuple", "forward() 返回空元组"),
    ("shapes {x} and {x2} do not broadcast", "形状 {x} 和 {x2} 无法广播"),
    ("{name}={x} is out of range for a {n}D input", "{name}={x} 超出 {n} 维输入的范围"),
    (
        "expected {t} {n}, got {n2} (input {x})",
        "{t} 应为 {n}，实际为 {n2}（输入 {x}）",
    ),
    ("last dimension (in_features)", "最后一维（in_features）"),
    ("channels (dim {n})", "通道数（第 {n} 维）"),
    ("{name} (last dimension)", "{name}（最后一维）"),
    ("{name} (dim {n})", "{name}（第 {n} 维）"),
    ("{name} expects a tensor, got {x}", "{name} 需要张量输入，实际为 {x}"),
    ("{name} expects a {x} input, got {x2}", "{name} 需要 {x} 输入，实际为 {x2}"),
    ("{name} expects at least a {x} input, got {x2}", "{name} 需要至少 {x} 的输入，实际为 {x2}"),
    ("{name} expects a 3D or higher input, got {x}", "{name} 需要 3D 或更高维的输入，实际为 {x}"),
    ("{name} is not in the layer catalog", "{name} 不在层目录中"),
    ("input {x} smaller than kernel {x2}", "输入 {x} 小于卷积核 {x2}"),
    (
        "input {x} is smaller than the kernel {x2} (dilation {n}) after padding",
        "填充后输入 {x} 仍小于卷积核 {x2}（dilation {n}）",
    ),
    ("{n} channels not divisible by groups={n2}", "{n} 个通道不能被 groups={n2} 整除"),
    ("{name}() got an unexpected keyword argument {x}", "{name}() 收到意外的关键字参数 {x}"),
    ("loss {name} is not modelled", "损失函数 {name} 没有建模"),
    ("parameters unknown", "参数未知"),
    (
        "ops without a memory rule (assumed to keep their output)",
        "没有显存规则的算子（假定保留其输出）",
    ),
    (
        "the model is never called with an input the reader follows",
        "模型没有以 gpulens 能跟踪的输入调用过",
    ),
    ("the batch size is not known", "批次大小未知"),
    ("which parameters are trainable is not known", "哪些参数可训练未知"),
    ("the memory model failed", "显存模型计算失败"),
    ("forward() returns no tensor", "forward() 没有返回张量"),
    ("forward() is too long to follow", "forward() 太长，无法跟踪"),
    ("the model code is too intricate to follow", "模型代码太复杂，无法跟踪"),
    (
        "the model code is too intricate to follow in the time allowed",
        "模型代码太复杂，无法在限定时间内跟踪",
    ),
    ("the model code is nested too deeply to read", "模型代码嵌套太深，无法读取"),
    ("modules nested too deeply", "模块嵌套太深"),
    ("modules nested too deeply to follow", "模块嵌套太深，无法跟踪"),
    ("calls nested too deeply to follow", "调用嵌套太深，无法跟踪"),
    ("followed too far", "跟踪层数过多"),
    ("no forward trace", "没有前向轨迹"),
    ("model input", "模型输入"),
    ("pragma input_shape", "pragma 注释 input_shape"),
    (
        "{name} is a torchvision model (its forward is measured, not traced)",
        "{name} 是 torchvision 模型（它的前向按实测值计，不逐层跟踪）",
    ),
    ("{name} has no forward()", "{name} 没有 forward()"),
    (
        "{name} is called without a tensor the reader follows",
        "调用 {name} 时没有传入 gpulens 能跟踪的张量",
    ),
    ("its size is inferred from an input not known", "它的大小由一个未知的输入推断"),
    ("{name} is not in the torchvision table", "{name} 不在 torchvision 数据表中"),
    ("torchvision {name} ({x} per image)", "torchvision {name}（每张图片 {x}）"),
    (
        "{code} is not a torchvision classification model in gpulens' table",
        "{code} 不在 gpulens 的 torchvision 分类模型表中",
    ),
    ("{code} is not a model constructor", "{code} 不是模型构造函数"),
    (
        "{code} builds a model gpulens does not read (only this file)",
        "{code} 构建的模型 gpulens 不读取（只读当前文件）",
    ),
    ("{code} is not in gpulens' layer catalog", "{code} 不在 gpulens 的层目录中"),
    (
        "torchvision's backbone parameter names are not in gpulens' table",
        "gpulens 的数据表中没有 torchvision 主干网络的参数名",
    ),
    ("{code} is not followed", "gpulens 没有跟踪 {code}"),
    ("{code} (line {n}) is not followed", "gpulens 没有跟踪 {code}（第 {n} 行）"),
    (
        "tensor method {code} (line {n}) is not followed",
        "gpulens 没有跟踪张量方法 {code}（第 {n} 行）",
    ),
    ("{code} of a module is not followed", "gpulens 没有跟踪模块的 {code}"),
    ("{code} of a config is not followed", "gpulens 没有跟踪配置的 {code}"),
    ("{code} at line {n} is not followed", "gpulens 没有跟踪第 {n} 行的 {code}"),
    ("{code} loop at line {n} is not followed", "gpulens 没有跟踪第 {n} 行的 {code} 循环"),
    ("{code} is not a batch the reader follows", "{code} 不是 gpulens 能跟踪的批次"),
    ("{code} is not a DataLoader the reader follows", "{code} 不是 gpulens 能跟踪的 DataLoader"),
    (
        "{code} reshapes the batch in a way not followed",
        "{code} 改变批次形状的方式 gpulens 无法跟踪",
    ),
    ("{code} is not bound before its use", "{code} 在使用前没有赋值"),
    ("{code} is a variable", "{code} 是变量"),
    ("{code} is a parameter", "{code} 是参数"),
    ("{code} is set to a non-module", "{code} 被设为非模块对象"),
    ("{code} is defined in terms of itself", "{code} 用它自身定义"),
    ("{code} called with too many arguments", "调用 {code} 时参数过多"),
    ("{code} of {code2} is not passed", "没有传入 {code2} 的 {code}"),
    ("{code} is not known", "{code} 未知"),
    ("the stacked samples {code} are not followed", "gpulens 没有跟踪堆叠的样本 {code}"),
    ("the size of {code} is not known", "{code} 的大小未知"),
    ("the DataLoader has no dataset", "这个 DataLoader 没有数据集"),
    ("the data loader is not known", "数据加载器未知"),
    ("the loop is not found", "没有找到循环"),
    ("TensorDataset at line {n}", "第 {n} 行的 TensorDataset"),
    (
        "the tensors of the TensorDataset have shapes the reader cannot follow",
        "TensorDataset 中张量的形状 gpulens 无法跟踪",
    ),
    ("Resize(int) keeps the aspect ratio", "Resize(int) 保持宽高比"),
    ("the enumerate counter", "enumerate 的计数器"),
    ("a batch item not followed", "gpulens 没有跟踪的批次元素"),
    ("batch item out of range", "批次元素越界"),
    ("a tuple of tensors", "张量元组"),
    ("not a batch", "不是批次"),
    ("forward raises at line {n}", "forward 在第 {n} 行抛出异常"),
    ("raises at line {n}", "在第 {n} 行抛出异常"),
    ("assignment at line {n}", "第 {n} 行的赋值"),
    ("assignment to {code}", "对 {code} 的赋值"),
    ("loop at line {n}", "第 {n} 行的循环"),
    ("unpacking {n} values into {n2} (line {n3})", "把 {n} 个值解包为 {n2} 个（第 {n3} 行）"),
    ("super() in forward", "forward 中的 super()"),
    ("super() outside a method", "方法之外的 super()"),
    (
        "calling a module runs its forward (not in construction code)",
        "调用模块会执行它的 forward（不应出现在构建代码中）",
    ),
    ("iterating over a tensor", "遍历张量"),
    ("a tensor's value decides it", "取决于张量的值"),
    ("a tensor dimension is not known ({x})", "张量的某一维未知（{x}）"),
    ("a dimension not known", "某一维未知"),
    ("slice bounds not known", "切片边界未知"),
    ("arithmetic on a parameter outside a layer", "在层之外对参数做运算"),
    ("arithmetic on the batch size", "对批次大小做运算"),
    ("matmul of scalars", "标量的矩阵乘法"),
    ("numel() of a batch tensor", "批次张量的 numel()"),
    ("a view whose -1 cannot be inferred", "无法推断 -1 的 view"),
    ("a view with sizes not known", "大小未知的 view"),
    ("too many indices", "索引过多"),
    ("slicing the batch dimension", "对批次维切片"),
    ("concatenating along the batch", "沿批次维拼接"),
    ("arange bounds not known", "arange 的边界未知"),
    ("tensor arithmetic with a value not known", "张量与未知值的运算"),
    ("comparison with a value not known", "与未知值比较"),
    ("comparison with an unknown value", "与未知值比较"),
    ("a comparison of run-time values", "运行时值的比较"),
    ("torch.flatten without a tensor", "没有张量的 torch.flatten"),
    ("a reshaped batch not followed", "gpulens 没有跟踪改变形状后的批次"),
    ("checkpoint of a function not followed", "gpulens 没有跟踪被 checkpoint 的函数"),
    ("a Parameter of unknown shape", "形状未知的 Parameter"),
    ("a parameter not known", "未知的参数"),
    ("a buffer with a name not known", "名称未知的缓冲区"),
    ("a tensor size not known", "未知的张量大小"),
    ("an operation on values the reader does not fold", "gpulens 无法计算的值运算"),
    ("an f-string with run-time values", "包含运行时值的 f-string"),
    ("hasattr() is decided at run time", "hasattr() 要到运行时才能确定"),
    ("isinstance() is decided at run time", "isinstance() 要到运行时才能确定"),
    ("getattr with a name not known", "名称未知的 getattr"),
    ("requires_grad_() with a flag not known", "参数未知的 requires_grad_()"),
    ("a loop too long to follow", "循环太长，无法跟踪"),
    ("truth value not known", "真值未知"),
    ("comparison not decided", "比较结果无法确定"),
    ("membership not decided", "成员关系无法确定"),
    ("unpacking not followed", "gpulens 没有跟踪的解包"),
    ("OrderedDict items not followed", "gpulens 没有跟踪 OrderedDict 的元素"),
    ("a dict key not known", "未知的字典键"),
    ("no submodule {x}", "没有子模块 {x}"),
    ("no such submodule", "没有这个子模块"),
    ("no module", "没有模块"),
    ("no instance", "没有实例"),
    ("not followed", "没有跟踪"),
    ("not known statically", "无法静态确定"),
    ("not a name", "不是名称"),
    ("too intricate", "太复杂"),
    ("shape not known", "形状未知"),
    ("length not known", "长度未知"),
    ("operator not folded", "无法计算的运算符"),
    ("number too large", "数字太大"),
    ("index {x} out of range", "索引 {x} 越界"),
    ("item {n} of {t} is not known", "{t} 的第 {n} 项未知"),
    ("comprehension not followed", "gpulens 没有跟踪推导式"),
    ("{code} at line {n}: name or module not known", "第 {n} 行的 {code}：名称或模块未知"),
    ("buffer {code}", "缓冲区 {code}"),
    (
        "activations from the model's measured totals, not a per-layer walk",
        "激活值取自该模型的实测总量，而非逐层推算",
    ),
    # -- memory: how each term was computed (``MemoryEstimate.how``) ----------------------------
    (
        "parameters and buffers in {name} ({n} bytes each), each tensor rounded to {size}",
        "参数和缓冲区按 {name} 计（每个 {n} 字节），每个张量按 {size} 对齐",
    ),
    (
        "autocast keeps the fp32 weights (it casts per op)",
        "autocast 仍保留 fp32 权重（按算子转换）",
    ),
    (
        "one gradient per trainable parameter, in the parameters' dtype",
        "每个可训练参数一份梯度，与参数同类型",
    ),
    ("{name}: {t} ({n}x trainable bytes)", "{name}：{t}（可训练参数字节数的 {n} 倍）"),
    ("plain SGD keeps no state", "普通 SGD 不保存状态"),
    ("momentum buffer", "动量缓冲区"),
    ("no optimizer", "没有优化器"),
    ("no optimizer (evaluation)", "没有优化器（评估）"),
    ("{t} + max_exp_avg_sq (amsgrad)", "{t} + max_exp_avg_sq（amsgrad）"),
    ("{t} + grad_avg (centered)", "{t} + grad_avg（centered）"),
    ("sum of squared gradients (allocated in the constructor)", "梯度平方和（在构造函数中分配）"),
    ("foreach keeps std and delta", "foreach 实现还保留 std 和 delta"),
    ("first and second moment buffers", "一阶和二阶矩缓冲区"),
    ("prev gradient + per-element step sizes", "上一步梯度 + 逐元素步长"),
    ("averaged parameters (ax)", "平均参数（ax）"),
    ("factored row/column second moments (small)", "分解的行/列二阶矩（很小）"),
    (
        "{n} (direction, step) pairs + flat gradient, direction, previous",
        "{n} 组（方向，步长）+ 展平的梯度、方向和上一步",
    ),
    ("{name} is not modelled", "{name} 没有建模"),
    ("assumed Adam-like (2 buffers)", "假定与 Adam 相同（2 份缓冲区）"),
    (
        "tensors autograd keeps for backward at the end of the forward (per-op rules, each "
        "storage once), including the input batch",
        "前向结束时 autograd 为反向传播保存的张量（按算子规则计，同一存储只算一次），含输入批次",
    ),
    ("no_grad: nothing is kept", "no_grad：不保存任何张量"),
    ("the largest live tensors during the forward", "前向过程中同时存在的最大张量"),
    (
        "cuBLAS workspace, {size} per thread running matmuls ({n}: forward and autograd's "
        "backward thread) + {size2}, measured on an H200",
        "cuBLAS 工作区：每个执行矩阵乘法的线程 {size}（{n} 个：前向线程和 autograd 的反向线程）"
        " + {size2}，在 H200 上实测",
    ),
    (
        "cuBLAS workspace, {size} per thread running matmuls ({n}: forward) + {size2}, "
        "measured on an H200",
        "cuBLAS 工作区：每个执行矩阵乘法的线程 {size}（{n} 个：前向线程）+ {size2}，在 H200 上实测",
    ),
    (
        "no matmul: no cuBLAS workspace (cuDNN's conv workspace is transient)",
        "没有矩阵乘法：没有 cuBLAS 工作区（cuDNN 的卷积工作区是临时的）",
    ),
    ("max over the step's phases: {t}", "训练步各阶段中的最大值：{t}"),
    ("model {n} {t}", "模型 {n} {t}"),
    ("forward: {name} (call {n})", "前向：{name}（调用 #{n}）"),
    ("backward: {name} (call {n})", "反向：{name}（调用 #{n}）"),
    ("forward: {t}", "前向：{t}"),
    ("backward: {t}", "反向：{t}"),
    ("{name} (call {n})", "{name}（调用 #{n}）"),
    (
        "start of backward (all gradients born, activations held: upper bound)",
        "反向开始时（梯度已全部生成、激活值仍保留：上界）",
    ),
    ("end of forward (loss)", "前向结束时（loss）"),
    ("end of forward", "前向结束时"),
    ("forward (no_grad)", "前向（no_grad）"),
    ("optimizer step", "优化器更新"),
    (
        "allocated peak in {size} segments + {n} x the largest activation's segment (little "
        "fragmentation without convolutions, measured on an H200)",
        "峰值已分配按 {size} 段取整 + 最大激活值所在段的 {n} 倍"
        "（没有卷积时碎片很少，在 H200 上实测）",
    ),
    (
        "allocated peak in {size} segments + {n} blocks of the largest output of a dense "
        "convolution that computes its input's gradient (cuDNN workspaces and gradients of other "
        "sizes strand cached blocks; the middle of the range measured on an H200)",
        "峰值已分配按 {size} 段取整 + 需要计算输入梯度的稠密卷积最大输出的 {n} 个块（cuDNN 工作区"
        "和其他大小的梯度会让缓存块无法复用；取 H200 上实测范围的中间值）",
    ),
    (
        "allocated peak in {size} segments + {n} blocks of the largest output of a dense "
        "convolution, a stem on the input (its backward computes only the weights' gradient; "
        "the middle of the range measured on an H200)",
        "峰值已分配按 {size} 段取整 + 稠密卷积最大输出的 {n} 个块，该卷积是直接作用于输入的"
        "首层（反向只计算权重的梯度；取 H200 上实测范围的中间值）",
    ),
    ("{t} + {n} blocks of the largest matmul output", "{t} + 最大矩阵乘法输出的 {n} 个块"),
    (
        "{code} at line {n}: the figures are for eager mode; a compiled model fuses ops and "
        "usually keeps fewer activations, so its peak is often lower",
        "第 {n} 行的 {code}：这些数字按 eager 模式计算；编译后的模型会融合算子，通常保存更少的"
        "激活值，峰值往往更低",
    ),
    (
        "{code} at line {n} shards weights, gradients and optimizer state across ranks: these "
        "are the figures of one process holding all of them (an upper bound per rank)",
        "第 {n} 行的 {code} 把权重、梯度和优化器状态分片到各个进程：这里是单个进程持有全部内容时"
        "的数字（每个进程的上界）",
    ),
    (
        "{code} at line {n} splits each batch over the visible GPUs: this is the one-GPU "
        "figure; with more, each holds about its share of the activations, GPU 0 somewhat more",
        "第 {n} 行的 {code} 把每个批次分到可见的各块 GPU 上：这是单卡的数字；多卡时每块卡大约"
        "只保存自己那份激活值，GPU 0 稍多一些",
    ),
    (
        "DistributedDataParallel's allreduce buckets: the gradients' bytes again, held from the "
        "wrapping on (gradient_as_bucket_view=True shares them); NCCL's own buffers are outside "
        "PyTorch's allocator and not counted",
        "DistributedDataParallel 的 allreduce 通信桶：再占一份梯度大小的显存，从包装模型起一直保留"
        "（gradient_as_bucket_view=True 时与梯度共用）；NCCL 自己的缓冲区不在 PyTorch 分配器中，"
        "未计入",
    ),
    (
        "The script as written trains on the CPU: nothing in it moves the model or the data to a "
        "GPU (no {code}, {code2}, {code3} or training framework). These figures are what it "
        "would need on one.",
        "按现在的写法，这个脚本在 CPU 上训练：脚本里没有把模型或数据移到 GPU 的代码（没有 "
        "{code}、{code2}、{code3}，也没有训练框架）。以下数字是它在 GPU 上需要的显存。",
    ),
    (
        "allocated peak in {size} segments + {n} blocks of the largest activation (a no_grad "
        "forward's conv workspaces, measured on an H200)",
        "峰值已分配按 {size} 段取整 + 最大激活值的 {n} 个块（no_grad 前向中卷积的工作区，"
        "在 H200 上实测）",
    ),
    (
        "allocated peak in {size} segments + {n} of the step's transient bytes (convolutions "
        "fragment the cache; the model's largest activation is unknown)",
        "峰值已分配按 {size} 段取整 + 训练步临时字节数的 {n}"
        "（卷积会让缓存产生碎片；模型最大的激活值未知）",
    ),
    (
        "the step's allocations and frees replayed through a model of PyTorch's caching "
        "allocator ({t}), at least the coarse fragmentation term",
        "把训练步的分配和释放在 PyTorch 缓存分配器的模型中重放（{t}），且不小于粗略的碎片项",
    ),
    (
        "{size} rounding, {size2} small / {size3} large segments, best-fit reuse and splitting, "
        "two steady steps",
        "按 {size} 取整，{size2} 小段 / {size3} 大段，最佳适配复用与拆分，两个稳定的训练步",
    ),
    (
        "CUDA context {size} (NVML, measured on an H200)",
        "CUDA 上下文 {size}（NVML，在 H200 上实测）",
    ),
    ("{t} + cuBLAS kernels {size}", "{t} + cuBLAS 内核 {size}"),
    ("{t} + cuDNN kernels {size}", "{t} + cuDNN 内核 {size}"),
    (
        "peak_reserved + cuda_context: what nvidia-smi shows for the process",
        "峰值已保留 + CUDA 上下文：`nvidia-smi` 中这个进程占用的显存",
    ),
    # -- the target GPU (``FitReport.usable_how``, GPU choice) ------------------------------------
    (
        "{size} - {size2} the driver keeps (NVML, idle H200) - {size3} CUDA context and libraries",
        "{size} - 驱动保留的 {size2}（NVML，空闲 H200）- CUDA 上下文和库 {size3}",
    ),
    (
        "{size} on GPU {n} - {size2} in use (other processes and the driver) - "
        "{size3} CUDA context",
        "GPU {n} 的 {size} - 正在使用的 {size2}（其他进程和驱动）- CUDA 上下文 {size3}",
    ),
    ("NVML sees no GPU", "NVML 没有看到 GPU"),
    ("NVML sees no GPU on this machine", "NVML 在这台机器上没有看到 GPU"),
    ("NVML is not available", "NVML 不可用"),
    ("NVML failed ({name})", "NVML 调用失败（{name}）"),
    ("NVML could not count the GPUs ({x})", "NVML 无法统计 GPU 数量（{x}）"),
    ("NVML could not start ({x}): no NVIDIA driver?", "NVML 无法启动（{x}）：没有 NVIDIA 驱动？"),
    (
        "the NVML bindings (nvidia-ml-py) are not installed in gpulens' environment",
        "gpulens 的环境中没有安装 NVML 绑定（nvidia-ml-py）",
    ),
    ("no local GPU {n} (NVML sees {n2})", "没有本机 GPU {n}（NVML 看到 {n2} 块）"),
    ("unknown GPU {x}", "未知 GPU {x}"),
    ("did you mean {x}?", "是不是指 {x}？"),
    (
        "or give a memory size such as {name} or {name2}",
        "也可以给出显存大小，例如 {name} 或 {name2}",
    ),
    (
        "{x} could be {x2} or {x3}: checking against {x4}, the one with the least memory; "
        "name the card exactly (e.g. {x5}) for another",
        "{x} 可能是 {x2} 或 {x3}：按其中显存最少的 {x4} 检查；要检查其他型号，请写出准确的名称"
        "（例如 {x5}）",
    ),
    # -- last: a layer and its type (``norm (LayerNorm)``) -------------------------------------
    ("{name} ({name2})", "{name}（{name2}）"),
)


@lru_cache(maxsize=1)
def phrases() -> tuple[Phrase, ...]:
    """The compiled templates (:data:`PHRASES`), built on the first translation: compiling
    some 600 patterns takes about 80 ms, which a session that never shows Chinese, and the
    server's first inlay hints, should not pay."""
    return tuple(_compile(en, zh) for en, zh in _TABLE)


def __getattr__(name: str) -> tuple[Phrase, ...]:
    # ``PHRASES``: the compiled templates, tried in order (see :func:`phrases`).
    if name == "PHRASES":
        return phrases()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Words kept as they are: an identifier, a dotted path, a flag, a ``key=value``.
_VERBATIM = re.compile(
    "|".join(
        (
            r"(?=[^ ]*[A-Z_.=\d(/\-])[^\s;" + _OPEN + r"]+",  # one token
            _OPEN + r"\d+" + _CLOSE,  # a code span
            r"\w*_\w*(?: \+ \w*_\w*)+",  # buffers: exp_avg + exp_avg_sq
        )
    )
)
#: Where the reader's English joins phrases: (English, Chinese), tried in this order.
_JOINS: tuple[tuple[str, str], ...] = (
    ("; ", "；"),
    (" with ", "，其中"),
    (": ", "："),
    (", ", "，"),
)
#: A bare name in front of what is said about it (``model: the input shape is not known``).
_NAME = re.compile(r"[A-Za-z_][\w.]*")
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
#: Blanks a template leaves between Chinese punctuation and a Chinese word (``）应为``).
_TIGHT = re.compile(
    r"(?<=[）：，；、。])[ ]+(?=[\u4e00-\u9fff])|(?<=[\u4e00-\u9fff])[ ]+(?=[（）：，；、。])"
)
_IDEOGRAPH = re.compile(r"[\u4e00-\u9fff]")
_MAX_DEPTH = 32


def _depth_zero(text: str, sep: str) -> list[int]:
    """Positions of ``sep`` outside parentheses and brackets."""
    found: list[int] = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and text.startswith(sep, i):
            found.append(i)
        i += 1
    return found


def _trailing_group(text: str) -> int | None:
    """Where ``" ("`` opens the parenthesis that closes at the end of ``text``."""
    if not text.endswith(")"):
        return None
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                return i if i > 0 and text[i - 1] == " " else None
    return None


class _Translator:
    """One text's translation: its code spans and a memo of the parts already tried."""

    def __init__(self) -> None:
        self.memo: dict[str, str | None] = {}
        self.depth = 0

    def phrase(self, text: str) -> str | None:
        if text in self.memo:
            return self.memo[text]
        self.memo[text] = None  # a part that comes back to itself does not translate
        if self.depth >= _MAX_DEPTH:
            return None
        self.depth += 1
        try:
            result = self._phrase(text)
        finally:
            self.depth -= 1
        self.memo[text] = result
        return result

    def _phrase(self, text: str) -> str | None:
        if not text or text != text.strip():
            return None
        for phrase in phrases():
            match = phrase.pattern.fullmatch(text)
            if match is None:
                continue
            slots = match.groupdict()
            done = True
            for group in phrase.nested:
                inner = self.phrase(slots[group])
                if inner is None:
                    done = False
                    break
                slots[group] = inner
            if done:
                return phrase.chinese.format(**slots)
        if _VERBATIM.fullmatch(text):
            return text
        for sep, joined in _JOINS:
            for at in _depth_zero(text, sep):
                head = self.phrase(text[:at])
                if head is None and sep == ": " and _NAME.fullmatch(text[:at]):
                    head = text[:at]
                if head is None:
                    continue
                tail = self.phrase(text[at + len(sep) :])
                if tail is not None:
                    return _join(head, joined, tail)
        opening = _trailing_group(text)
        if opening is not None:
            head = self.phrase(text[: opening - 1])
            inner = self.phrase(text[opening + 1 : -1])
            if head is not None and inner is not None:
                return f"{head}（{inner}）"
        return None

    def clipped(self, text: str) -> str | None:
        """A text the reader cut short (``…`` at the end): the parts before the last join
        that translate, then ``…``."""
        body = text[:-1]
        cuts = sorted(
            ((at, sep, joined) for sep, joined in _JOINS[:3] for at in _depth_zero(body, sep)),
            reverse=True,
        )
        for at, _sep, joined in cuts:
            head = self.phrase(body[:at])
            if head is not None:
                return _join(head, joined, "…")
        return None


def _join(head: str, joined: str, tail: str) -> str:
    """``head`` and ``tail`` joined by a Chinese word or mark; a space after a word (``其中``)
    when the tail starts with Latin text or code."""
    space = " " if _IDEOGRAPH.match(joined[-1]) and not _CJK.match(tail[:1]) else ""
    return head + joined + space + tail


def _mask(text: str) -> tuple[str, list[str]]:
    spans: list[str] = []

    def keep(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"{_OPEN}{len(spans) - 1}{_CLOSE}"

    return _CODE_SPAN.sub(keep, text), spans


def _unmask(text: str, spans: list[str]) -> str:
    return _MARK.sub(lambda m: spans[int(m.group(1))], text)


@lru_cache(maxsize=4096)
def to_zh(text: str) -> str | None:
    """``text`` in Simplified Chinese, or None when some part of it is not in the table."""
    if _OPEN in text or _CLOSE in text:
        return None
    masked, spans = _mask(text.strip())
    if not masked:
        return None
    translator = _Translator()
    try:
        result = translator.phrase(masked)
        if result is None and masked.endswith("…"):
            result = translator.clipped(masked)
    except (RecursionError, KeyError, IndexError, ValueError):
        return None
    return None if result is None else _unmask(_TIGHT.sub("", result), spans)


def localize(text: str, locale: str) -> str:
    """A reader's or estimator's English text for ``locale``: Chinese for ``zh-cn`` when every
    part of it translates, else the English unchanged."""
    if locale != "zh-cn" or not text:
        return text
    return to_zh(text) or text


__all__ = ["Phrase", "localize", "phrases", "to_zh"]
