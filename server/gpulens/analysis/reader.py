"""Orchestration: source text → symbol table → facts, iterations and concept mentions."""

from __future__ import annotations

import ast
import time
from typing import TYPE_CHECKING, Any

from gpulens.analysis import catalog, datasets, stdlib
from gpulens.analysis.configs import apply_exec_configs
from gpulens.analysis.facts import FACT_NAMES, SUPPLY, Analysis, Fact, Iterations, Mention, Span
from gpulens.analysis.loops import LoopFinder, TrainLoop, walk_no_defs
from gpulens.analysis.pragmas import find_pragmas, normalise
from gpulens.analysis.symbols import Scope, SymbolTable, assigned_names, build, dotted_target
from gpulens.analysis.values import (
    Context,
    DatasetVal,
    DictVal,
    Evaluator,
    LoaderVal,
    Namespace,
    SamplerVal,
    SeqVal,
    Symbol,
    V,
    span_of,
    unknown,
)
from gpulens.estimate.iterations import LoopPlan, compute_iterations

if TYPE_CHECKING:
    from gpulens.analysis.incremental import ParseCache

#: Call names (last dotted part) the reader looks at; see Reader.__init__.
INTERESTING: frozenset[str] = frozenset().union(
    catalog.OPTIMIZERS,
    catalog.SCHEDULERS,
    catalog.LOSS_FUNCTIONS,
    catalog.DROPOUT,
    catalog.ACTIVATIONS,
    catalog.DATASET_CALLS,
    catalog.LOADERS,
    datasets.dataset_table(),
    {
        "autocast",
        "GradScaler",
        "half",
        "bfloat16",
        "to",
        "Trainer",
        "TrainingArguments",
        "Seq2SeqTrainingArguments",
        "SFTConfig",
        "Seq2SeqTrainer",
        "SFTTrainer",
        "DistributedDataParallel",
        "FullyShardedDataParallel",
        "DataParallel",
        "compile",
        "init_process_group",
        "Accelerator",
        "DistributedSampler",
    },
)

#: Give up repairing a broken file after this long; the editor is waiting.
REPAIR_SECONDS = 0.25


def install_handlers(ev: Evaluator) -> None:
    from gpulens.analysis import hydra

    stdlib.register(ev)
    datasets.register(ev)
    ev.param_hook = hydra.hook


# -- parsing with repair ----------------------------------------------------------------------


def _parse(text: str) -> ast.Module:
    return ast.parse(text)


def parse_tolerant(
    source: str, cache: ParseCache | None = None
) -> tuple[ast.Module | None, str | None]:
    """Parse, blanking lines that do not parse until the rest does (bounded in time).

    With ``cache`` (the document's :class:`~gpulens.analysis.incremental.ParseCache`) every parse
    goes through the cache: a text that parses, the repaired one included, is parsed
    incrementally (the same tree, and the same errors, as ``ast.parse``).
    """
    text = source.replace("\x00", " ")
    parse = _parse if cache is None else cache.parse
    try:
        return parse(text), None
    except (RecursionError, MemoryError):
        return None, "the file is nested too deeply to read"
    except SyntaxError as exc:
        first = f"syntax error at line {exc.lineno}: {exc.msg} (analysed the rest)"
        error: SyntaxError | None = exc
    except ValueError as exc:
        return None, f"cannot parse the file: {exc}"
    lines = text.split("\n")
    deadline = time.monotonic() + REPAIR_SECONDS
    while True:
        if error is not None:
            ln = error.lineno or len(lines)
            ln = min(max(ln, 1), len(lines))
            # Errors reported past the end (unclosed brackets) blank the last non-empty line.
            while ln > 1 and not lines[ln - 1].strip():
                ln -= 1
            if not lines[ln - 1].strip():
                return None, first
            lines[ln - 1] = _placeholder(lines, ln - 1)
            end = getattr(error, "end_lineno", None)
            if end and end > ln:
                for k in range(ln, min(end, len(lines))):
                    lines[k] = _placeholder(lines, k)
            error = None
        if time.monotonic() >= deadline:
            return None, first
        try:
            return parse("\n".join(lines)), first
        except (RecursionError, MemoryError):
            return None, "the file is nested too deeply to read"
        except SyntaxError as exc:
            error = exc
        except ValueError:
            return None, first


def _placeholder(lines: list[str], i: int) -> str:
    """A `pass` at an indentation that keeps the block structure valid."""
    line = lines[i]
    if line.strip() == "pass":
        return ""
    indent = len(line) - len(line.lstrip())
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j >= 0:
        prev = lines[j]
        prev_indent = len(prev) - len(prev.lstrip())
        if prev.rstrip().endswith(":"):
            indent = max(indent, prev_indent + 4)
        else:
            indent = min(indent, prev_indent) if indent > prev_indent else indent
    return " " * indent + "pass"


# -- helpers ------------------------------------------------------------------------------


def canonical(table: SymbolTable, node: ast.expr) -> str | None:
    """``nn.ReLU`` → "torch.nn.ReLU" through the file's imports."""
    d = dotted_target(node)
    if d is None or "[" in d:
        return None
    head, _, rest = d.partition(".")
    full = table.imports.get(head)
    if full is None:
        return d
    return f"{full}.{rest}" if rest else full


def to_plain(v: Any) -> Any:
    """A JSON-serialisable form of an evaluated value."""
    if isinstance(v, bool | int | str) or v is None:
        return v
    if isinstance(v, float):
        return v if v == v and v not in (float("inf"), float("-inf")) else str(v)
    if isinstance(v, SeqVal):
        return [to_plain(i.value) if i.known else None for i in v.items]
    if isinstance(v, DictVal):
        return {str(k): (to_plain(i.value) if i.known else None) for k, i in v.items.items()}
    if isinstance(v, Namespace):
        return {k: (to_plain(i.value) if i.known else None) for k, i in v.attrs.items()}
    if isinstance(v, Symbol):
        return v.name
    if isinstance(v, range):
        return f"range({v.start}, {v.stop}, {v.step})"
    return None


def fact_from(name: str, v: V, fallback_span: Span | None = None) -> Fact:
    if not v.known:
        return Fact.unknown(name, v.reason or "not readable statically", v.span or fallback_span)
    return Fact(name, to_plain(v.value), v.source, v.span or fallback_span)


def header_span(node: ast.For | ast.While) -> Span:
    end_node: ast.AST = node.iter if isinstance(node, ast.For) else node.test
    end_line = getattr(end_node, "end_lineno", None) or node.lineno
    end_col = (getattr(end_node, "end_col_offset", None) or 0) + 1
    return Span(node.lineno, node.col_offset, end_line, end_col)


# -- the reader -----------------------------------------------------------------------------


class Reader:
    def __init__(
        self,
        tree: ast.Module,
        lines: list[str],
        ctx: Context,
        table: SymbolTable | None = None,
    ) -> None:
        self.tree = tree
        #: ``table`` is the symbol table of ``tree`` when the caller has it (incremental reading).
        self.table = build(tree) if table is None else table
        self.ev = Evaluator(self.table, lines, ctx)
        install_handlers(self.ev)
        self.notes = apply_exec_configs(self.ev)
        self.facts: dict[str, Fact] = {}
        self.mentions: list[Mention] = []
        # Only calls named like something the reader cares about get a canonical name: the file
        # may hold thousands of calls, and this keeps the per-edit cost proportional to them.
        self.canon: list[tuple[ast.Call, Scope, str]] = []
        imports = self.table.imports
        for key, lst in self.ev.call_index().items():
            if (
                key in INTERESTING
                or key.endswith("Loss")
                # `from torch.optim import AdamW as Opt`: named by what it imports
                or (key in imports and imports[key].rsplit(".", 1)[-1] in INTERESTING)
            ):
                for call, scope in lst:
                    c = canonical(self.table, call.func)
                    if c is not None:
                        self.canon.append((call, scope, c))
        self.canon.sort(key=lambda t: (t[0].lineno, t[0].col_offset))
        if self.table.assigned is None:
            self.table.assigned = assigned_names(self.table.all_scopes())
        self.assigned_to: dict[int, str] = self.table.assigned
        from gpulens.analysis.frameworks import Frameworks

        self.frameworks = Frameworks(self)

    def dead(self, call: ast.Call, scope: Scope) -> bool:
        """The call sits under an ``if`` known to be false in this configuration (``if
        args.half: model = model.half()`` without ``--half``, the other branches of an
        ``if args.optimizer == ...`` chain)."""
        conds = self.table.call_conds.get(id(call), ())
        return bool(conds) and self.ev.conds_status(conds, scope)[0] is False

    # -- loaders --------------------------------------------------------------------------
    def loaders(self) -> list[tuple[ast.Call, Scope]]:
        return [(c, s) for c, s, name in self.canon if name.rsplit(".", 1)[-1] in catalog.LOADERS]

    def pick_loader(
        self, loaders: list[tuple[ast.Call, Scope]], iterated: set[str]
    ) -> tuple[ast.Call, Scope] | None:
        best: tuple[int, int, ast.Call, Scope] | None = None
        for i, (call, scope) in enumerate(loaders):
            name = (self.assigned_to.get(id(call)) or "").lower()
            score = 0
            if name and (name in {n.lower() for n in iterated}):
                score += 6
            if "train" in name:
                score += 3
            if any(w in name for w in ("val", "test", "eval", "dev")):
                score -= 4
            fn = scope.name.lower()
            if "train" in fn:
                score += 3
            if any(w in fn for w in ("val", "test", "predict")):
                score -= 4
            for kw in call.keywords:
                if kw.arg == "shuffle" and isinstance(kw.value, ast.Constant) and kw.value.value:
                    score += 2
                if kw.arg == "sampler":
                    score += 1
            if best is None or score > best[0]:
                best = (score, i, call, scope)
        return (best[2], best[3]) if best else None

    def eval_loader(self, call: ast.Call, scope: Scope) -> LoaderVal | None:
        v = self.ev.eval(call, scope, (call.lineno, call.col_offset))
        return v.value if v.known and isinstance(v.value, LoaderVal) else None

    # -- main -----------------------------------------------------------------------------
    def run(self, world_size: int | None) -> LoopPlan:
        finder = LoopFinder(self.ev)
        self.user_world = world_size
        fw_plan = self.frameworks.detect()
        tl = finder.find() if fw_plan is None else None
        self.train_loop = tl
        plan = fw_plan or self._loop_facts(tl)
        self._world(world_size, plan)
        self._precision()
        self._optimizer()
        self._scheduler()
        self._loss()
        self._mentions(tl)
        return plan

    def _loop_facts(self, tl: TrainLoop | None) -> LoopPlan:
        iterated = tl.iterated if tl else set()
        picked = self.pick_loader(self.loaders(), iterated)
        self.train_loader = picked
        shards = False
        if picked is None:
            why = "no DataLoader found in the script"
            self.facts["batch_size"] = Fact.unknown(
                "batch_size", f"{why}; {SUPPLY.format(name='batch_size')}"
            )
            self.facts["dataset_size"] = Fact.unknown(
                "dataset_size", f"{why}; {SUPPLY.format(name='dataset_size')}"
            )
            self.facts["drop_last"] = Fact("drop_last", False, "no DataLoader (default False)")
            self._step_loop_batch(tl)
        else:
            call, scope = picked
            ld = self.eval_loader(call, scope)
            if ld is None:
                why = "the DataLoader could not be read"
                self.facts["batch_size"] = Fact.unknown("batch_size", why, span_of(call))
                self.facts["dataset_size"] = Fact.unknown("dataset_size", why, span_of(call))
            else:
                b = ld.batch
                if b.known and b.value is None:
                    b = V(1, f"batch_size=None: one sample at a time ({b.source})", b.span)
                self.facts["batch_size"] = fact_from("batch_size", b, span_of(call))
                data = ld.dataset
                if (
                    ld.sampler is not None
                    and ld.sampler.known
                    and isinstance(ld.sampler.value, SamplerVal)
                ):
                    smp = ld.sampler.value
                    shards = smp.kind == "DistributedSampler"
                    self.sampler = smp
                    drawn = smp.kind in ("RandomSampler", "WeightedRandomSampler") and (
                        smp.dataset is not None
                        and smp.dataset.known
                        and isinstance(smp.dataset.value, DatasetVal)
                        and smp.dataset.value.kind == smp.kind
                    )
                    if smp.dataset is not None and (drawn or not data.known):
                        data = smp.dataset  # samples drawn per epoch come from the sampler
                n = self.ev.length(data, span_of(call))
                if not n.known:
                    n = unknown(f"{n.reason}; {SUPPLY.format(name='dataset_size')}", n.span)
                elif isinstance(data.value, DatasetVal):
                    n = V(n.value, data.value.desc, data.span)
                self.facts["dataset_size"] = fact_from("dataset_size", n, span_of(call))
                self.facts["drop_last"] = fact_from("drop_last", ld.drop_last)
        accum_inside = False
        rounding = "floor"
        if tl is not None and tl.accum is not None:
            acc = tl.accum
            steps = acc.steps
            if steps.known:
                src = (
                    f"micro-step loop {steps.source}"
                    if acc.inside
                    else f"{acc.how} with {steps.source}"
                )
                steps = steps.with_source(src)
            self.facts["grad_accum_steps"] = fact_from("grad_accum_steps", steps, span_of(acc.span))
            accum_inside = acc.inside
            rounding = acc.rounding
        elif self._accelerator("gradient_accumulation_steps") is not None:
            acc_v = self._accelerator("gradient_accumulation_steps")
            assert acc_v is not None
            self.facts["grad_accum_steps"] = fact_from("grad_accum_steps", acc_v)
            rounding = "ceil"  # accelerate also syncs on the last batch of the dataloader
        else:
            div = self._loss_division(tl)
            if div is not None:
                self.facts["grad_accum_steps"] = div
            else:
                self.facts["grad_accum_steps"] = Fact(
                    "grad_accum_steps", 1, "no gradient accumulation found (one update per batch)"
                )
        if tl is None:
            reason = (
                "no training loop found (a loop that calls loss.backward() or optimizer.step())"
            )
            self.facts["epochs"] = Fact.unknown(
                "epochs", f"{reason}; {SUPPLY.format(name='epochs')}"
            )
            self.facts["max_steps"] = Fact.unknown("max_steps", reason)
            return LoopPlan("none", reason=reason, shards=shards)
        if any(name.rsplit(".", 1)[-1] == "Accelerator" for _c, _s, name in self.canon):
            shards = True  # accelerator.prepare() wraps the loader with a distributed sampler
        if tl.kind in ("epoch", "single"):
            self.facts["epochs"] = fact_from("epochs", tl.count, span_of(tl.node))
            cap = tl.cap
            if cap is not None:
                bound = cap.bound
                if bound.known:
                    test = self.ev.segment(cap.node.test, 60)
                    bound = bound.with_source(
                        f"`{test}` (line {cap.node.lineno}) with {bound.source}"
                    )
                self.facts["max_steps"] = fact_from("max_steps", bound, span_of(cap.node))
            else:
                self.facts["max_steps"] = Fact(
                    "max_steps", None, "not used: the script trains by epochs"
                )
            return LoopPlan(
                "epochs",
                accum_inside=accum_inside,
                accum_rounding=rounding,
                shards=shards,
                cap_counts=cap.counts if cap is not None else "",
                cap_offset=cap.offset if cap is not None else 0,
            )
        self.facts["max_steps"] = fact_from("max_steps", tl.count, span_of(tl.node))
        self.facts["epochs"] = Fact(
            "epochs", None, "not used: the script trains for a number of steps"
        )
        return LoopPlan(
            "steps",
            step_count=tl.step_count,
            step_words=tl.step_words,
            accum_inside=accum_inside,
            accum_rounding=rounding,
            shards=shards,
        )

    def _step_loop_batch(self, tl: TrainLoop | None) -> None:
        """nanoGPT-style scripts batch by hand: report a module-level `batch_size` if any."""
        for name in ("batch_size", "micro_batch_size", "BATCH_SIZE"):
            v = self.ev.lookup(name, self.table.module, None)
            if v is not None and v.known and isinstance(v.value, int):
                self.facts["batch_size"] = fact_from("batch_size", v)
                return

    def _accelerator(self, key: str) -> V | None:
        """A keyword of ``Accelerator(...)`` (Hugging Face accelerate), if the script makes one."""
        for call, scope, name in self.canon:
            if name.rsplit(".", 1)[-1] == "Accelerator":
                for kw in call.keywords:
                    if kw.arg == key:
                        v = self.ev.eval(kw.value, scope, (call.lineno, call.col_offset))
                        if v.known and v.source == "literal":
                            v = v.with_source(
                                f"`Accelerator({key}={self.ev.segment(kw.value)})`"
                                f", line {call.lineno}"
                            )
                        return v
        return None

    def _loss_division(self, tl: TrainLoop | None) -> Fact | None:
        if tl is None:
            return None
        for body, scope in LoopFinder(self.ev).bodies(tl.node, tl.scope):
            found = self._division_in(body, scope)
            if found is not None:
                return found
        return None

    def _division_in(self, body: ast.AST, scope: Scope) -> Fact | None:
        for n in walk_no_defs(body):
            # `loss = loss / accum_steps` or `loss /= accum_iter`
            divisor: ast.expr | None = None
            if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div):
                divisor = n.right
            elif isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Div):
                divisor = n.value
            if isinstance(divisor, ast.Name | ast.Attribute):
                text = (dotted_target(divisor) or "").lower()
                if "accum" in text:
                    v = self.ev.eval(divisor, scope, (divisor.lineno, divisor.col_offset))
                    if v.known:
                        v = v.with_source(
                            f"`{self.ev.segment(n)}` (line {divisor.lineno}): {v.source}"
                        )
                    return fact_from("grad_accum_steps", v, span_of(n))
        return None

    # -- world size -------------------------------------------------------------------------
    def _world(self, world_size: int | None, plan: LoopPlan) -> None:
        if "world_size" in self.facts:
            return
        if world_size is not None:
            self.facts["world_size"] = Fact(
                "world_size", world_size, "user setting (number of GPUs)"
            )
            return
        smp = getattr(self, "sampler", None)
        if isinstance(smp, SamplerVal) and smp.kind == "DistributedSampler" and smp.replicas:
            r = smp.replicas
            if r.known:
                self.facts["world_size"] = fact_from("world_size", r)
            else:
                self.facts["world_size"] = Fact.unknown(
                    "world_size", f"{r.reason}; {SUPPLY.format(name='world_size')}", r.span
                )
            return
        # DDP code that sits under an `if` known to be false (args.distributed defaults to
        # False) does not run in the default configuration.
        ddp = any(
            name.rsplit(".", 1)[-1] in ("DistributedDataParallel", "init_process_group")
            and not self.dead(c, s)
            for c, s, name in self.canon
        )
        if ddp:
            for target in ("ddp_world_size", "world_size", "WORLD_SIZE", "args.world_size"):
                v = self.ev.lookup(target, self.table.module, None)
                if v is not None and v.known and isinstance(v.value, int):
                    self.facts["world_size"] = fact_from("world_size", v)
                    return
            self.facts["world_size"] = Fact.unknown(
                "world_size",
                "the script uses DistributedDataParallel; the process count comes from the"
                f" launcher (torchrun --nproc_per_node); {SUPPLY.format(name='world_size')}",
            )
            return
        accelerator = next(
            (
                call
                for call, scope, name in self.canon
                if name.rsplit(".", 1)[-1] == "Accelerator" and not self.dead(call, scope)
            ),
            None,
        )
        if accelerator is not None:
            # `python train.py` runs one process; `accelerate launch` shards the prepared
            # DataLoader over its processes, a count the script does not hold
            self.facts["world_size"] = Fact(
                "world_size",
                1,
                f"one process when run with python: `Accelerator` (line {accelerator.lineno}) "
                "shards the DataLoader over `accelerate launch`'s processes; "
                + SUPPLY.format(name="world_size"),
            )
            return
        self.facts["world_size"] = Fact(
            "world_size", 1, "single process: no DistributedSampler or DDP found"
        )

    # -- precision ------------------------------------------------------------------------
    def _precision(self) -> None:
        if "precision" in self.facts:
            return
        autocast: Fact | None = None
        scaler: Fact | None = None
        cast: Fact | None = None
        disabled: str | None = None  # an autocast / GradScaler switched off here
        canon = {id(c): n for c, _s, n in self.canon}
        idx = self.ev.call_index()
        casts = [
            cs
            for k in ("autocast", "GradScaler", "half", "bfloat16", "to")
            for cs in idx.get(k, [])
        ]
        casts.sort(key=lambda cs: (cs[0].lineno, cs[0].col_offset))
        for call, scope in casts:
            if self.dead(call, scope):
                continue
            f = call.func
            name = canon.get(id(call)) or (f.attr if isinstance(f, ast.Attribute) else "")
            last = name.rsplit(".", 1)[-1]
            pos = (call.lineno, call.col_offset)
            if last in ("autocast", "GradScaler"):
                en = self._kw(call, scope, "enabled")
                if en is not None and en.known and not en.value:
                    disabled = (
                        disabled or f"`{name}` at line {call.lineno} has `enabled=False` here"
                    )
                    continue
            if last == "autocast" and autocast is None:
                autocast = self._autocast(call, scope, name)
            elif last == "GradScaler" and scaler is None:
                scaler = Fact(
                    "precision",
                    "amp_fp16",
                    f"`{name}` at line {call.lineno} (loss scaling is for float16 AMP)",
                    span_of(call),
                )
            elif (
                last in ("half", "bfloat16", "to")
                and cast is None
                and isinstance(call.func, ast.Attribute)
            ):
                mode = None
                if last == "half":
                    mode = "fp16"
                elif last == "bfloat16":
                    mode = "bf16"
                else:
                    for a in [*call.args, *(k.value for k in call.keywords if k.arg == "dtype")]:
                        v = self.ev.eval(a, scope, pos)
                        dt = _dtype(v)
                        if dt:
                            mode = dt
                if mode:
                    base = self.ev.segment(call.func.value, 40)
                    if any(w in base.lower() for w in ("model", "net", "module")):
                        cast = Fact(
                            "precision",
                            mode,
                            f"`{self.ev.segment(call, 60)}` at line {call.lineno}",
                            span_of(call),
                        )
        for cand in (autocast, scaler, cast):
            if cand is not None and (cand.known or cand is autocast):
                self.facts["precision"] = cand
                return
        mp = self._accelerator("mixed_precision")
        if mp is not None:
            modes = {"bf16": "amp_bf16", "fp16": "amp_fp16", "no": "fp32", "fp8": "fp8"}
            if mp.known and mp.value in modes:
                self.facts["precision"] = Fact("precision", modes[mp.value], mp.source, mp.span)
                return
            if not mp.known:
                self.facts["precision"] = Fact.unknown("precision", f"Accelerator: {mp.reason}")
                return
        self.facts["precision"] = Fact(
            "precision", "fp32", disabled or "no autocast or dtype cast found"
        )

    def _kw(self, call: ast.Call, scope: Scope, name: str) -> V | None:
        for kw in call.keywords:
            if kw.arg == name:
                return self.ev.eval(kw.value, scope, (call.lineno, call.col_offset))
        return None

    def _autocast(self, call: ast.Call, scope: Scope, name: str) -> Fact | None:
        """The precision an (enabled) ``autocast`` sets, None for an fp32 one."""
        pos = (call.lineno, call.col_offset)
        dtype = self._kw(call, scope, "dtype")
        device: V | None = self._kw(call, scope, "device_type")
        if device is None and call.args:
            device = self.ev.eval(call.args[0], scope, pos)
        where = f"`{name}` at line {call.lineno}"
        if dtype is not None:
            if not dtype.known:
                return Fact.unknown(
                    "precision",
                    f"mixed precision ({where}) with a dtype the"
                    f" reader cannot tell: {dtype.reason};"
                    f" {SUPPLY.format(name='precision')}",
                    span_of(call),
                )
            dt = _dtype(dtype)
            if dt is None:
                return Fact.unknown("precision", f"{where}: unrecognised dtype", span_of(call))
            if dt == "fp32":
                return None
            src = where + (f", dtype from {dtype.source}" if dtype.source != "import" else "")
            return Fact("precision", f"amp_{dt}", src, span_of(call))
        if device is not None and device.known and device.value == "cpu":
            return Fact(
                "precision", "amp_bf16", f"{where} on CPU (bfloat16 by default)", span_of(call)
            )
        return Fact("precision", "amp_fp16", f"{where} (float16 by default on CUDA)", span_of(call))

    # -- optimizer, scheduler, loss ---------------------------------------------------------
    def _call_args(self, call: ast.Call, scope: Scope) -> dict[str, Any]:
        pos = (call.lineno, call.col_offset)
        out: dict[str, Any] = {}
        for kw in call.keywords:
            if kw.arg is None or kw.arg in ("params", "optimizer"):
                continue
            v = self.ev.eval(kw.value, scope, pos)
            out[kw.arg] = to_plain(v.value) if v.known else None
        return out

    def _optimizer(self) -> None:
        found: tuple[ast.Call, Scope, str] | None = None
        for call, scope, name in self.canon:
            last = name.rsplit(".", 1)[-1]
            is_opt = last in catalog.OPTIMIZERS and (
                name.count(".") > 0 or last in self.table.imports
            )
            named_opt = "opt" in (self.assigned_to.get(id(call)) or "")
            if is_opt and self.dead(call, scope):
                continue
            if is_opt and (found is None or named_opt):
                found = (call, scope, name)
                if named_opt:
                    break
        if found is None:
            if "optimizer" not in self.facts:
                self.facts["optimizer"] = Fact.unknown(
                    "optimizer", "no torch.optim optimizer is constructed in this file"
                )
            if "learning_rate" not in self.facts:
                for target in ("learning_rate", "lr", "LEARNING_RATE", "LR", "base_lr"):
                    v = self.ev.lookup(target, self.table.module, None)
                    if v is not None and v.known and isinstance(v.value, float | int):
                        self.facts["learning_rate"] = fact_from("learning_rate", v)
                        return
                self.facts["learning_rate"] = Fact.unknown(
                    "learning_rate", "no optimizer with an lr found"
                )
            return
        call, scope, name = found
        last = name.rsplit(".", 1)[-1]
        pos = (call.lineno, call.col_offset)
        value: dict[str, Any] = {"class": last}
        args = self._call_args(call, scope)
        lr_v: V | None = None
        lr_node = next((k.value for k in call.keywords if k.arg == "lr"), None)
        if (
            lr_node is None
            and len(call.args) > 1
            and last in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta")
        ):
            lr_node = call.args[1]
            lrv = self.ev.eval(lr_node, scope, pos)
            args["lr"] = to_plain(lrv.value) if lrv.known else None
        if lr_node is not None:
            lr_v = self.ev.eval(lr_node, scope, pos)
            if lr_v.known and lr_v.source == "literal":
                lr_v = lr_v.with_source(f"`lr={self.ev.segment(lr_node)}` at line {lr_node.lineno}")
        else:
            d = catalog.OPTIMIZERS.get(last)
            if d is not None:
                lr_v = V(d, f"default lr of torch.optim.{last}", span_of(call))
                args.setdefault("lr", d)
        value.update(args)
        self.facts.setdefault(
            "optimizer", Fact("optimizer", value, f"`{name}` at line {call.lineno}", span_of(call))
        )
        if "learning_rate" not in self.facts:
            self.facts["learning_rate"] = (
                fact_from("learning_rate", lr_v)
                if lr_v is not None
                else Fact.unknown("learning_rate", f"{last} has no lr the reader can see")
            )

    def _scheduler(self) -> None:
        if "lr_scheduler" in self.facts:
            return
        for call, scope, name in self.canon:
            last = name.rsplit(".", 1)[-1]
            if last in catalog.SCHEDULERS:
                value: dict[str, Any] = {"class": last}
                value.update(self._call_args(call, scope))
                self.facts["lr_scheduler"] = Fact(
                    "lr_scheduler", value, f"`{name}` at line {call.lineno}", span_of(call)
                )
                return
        self.facts["lr_scheduler"] = Fact(
            "lr_scheduler",
            None,
            "no learning-rate scheduler found"
            " (the learning rate stays constant unless set by hand)",
        )

    def _loss(self) -> None:
        if "loss" in self.facts:
            return
        for call, _scope, name in self.canon:
            last = name.rsplit(".", 1)[-1]
            if (last.endswith("Loss") and name.startswith("torch")) or (
                last in catalog.LOSS_FUNCTIONS and name.startswith("torch")
            ):
                shown = last if last.endswith("Loss") else f"F.{last}"
                self.facts["loss"] = Fact(
                    "loss", shown, f"`{name}` at line {call.lineno}", span_of(call)
                )
                return
        self.facts["loss"] = Fact.unknown("loss", "no torch.nn loss or F.* loss function found")

    # -- mentions ---------------------------------------------------------------------------
    def _mentions(self, tl: TrainLoop | None) -> None:
        ms = self.mentions
        picked = getattr(self, "train_loader", None)
        if picked is not None:
            call = picked[0]
            node = next((k.value for k in call.keywords if k.arg == "batch_size"), None)
            if node is None and len(call.args) > 1:
                node = call.args[1]
            detail = canonical(self.table, call.func) or "DataLoader"
            if node is not None:
                ms.append(Mention("batch_size", span_of(node), detail))
            bf = self.facts.get("batch_size")
            defined_elsewhere = node is None or (bf is not None and bf.span != span_of(node))
            if bf is not None and bf.span is not None and defined_elsewhere:
                ms.append(Mention("batch_size", bf.span, "definition", role="definition"))
        if picked is None:
            # No DataLoader (HF Trainer): point at where the batch size is set. (nanoGPT-style
            # step loops get none: their batch size does not set the iteration count.)
            bs_kw = self.frameworks.keyword_spans.get("per_device_train_batch_size")
            if bs_kw is not None:
                ms.append(Mention("batch_size", bs_kw, "transformers.TrainingArguments"))
        kw_epochs = self.frameworks.keyword_spans.get(
            "num_train_epochs"
        ) or self.frameworks.keyword_spans.get("max_epochs")
        if kw_epochs is not None:
            ms.append(Mention("epochs", kw_epochs, "trainer"))
        anchor = getattr(self.frameworks, "anchor", None)
        if tl is None and anchor is not None:
            ms.append(Mention("epoch_loop", span_of(anchor), "trainer"))
        if tl is not None:
            kind = "epoch_loop" if tl.kind in ("epoch", "single") else "step_loop"
            ms.append(
                Mention(
                    kind,
                    header_span(tl.node),
                    self.ev.segment(tl.node.target) if isinstance(tl.node, ast.For) else "while",
                )
            )
            ef = self.facts.get("epochs") if kind == "epoch_loop" else self.facts.get("max_steps")
            if ef is not None and ef.span is not None and ef.known and tl.kind != "single":
                ms.append(
                    Mention(
                        "epochs" if kind == "epoch_loop" else "max_steps",
                        ef.span,
                        "definition",
                        role="definition",
                    )
                )
            if tl.accum is not None:
                ms.append(Mention("grad_accum", span_of(tl.accum.span), tl.accum.how))
        for call, _scope, name in self.canon:
            last = name.rsplit(".", 1)[-1]
            fsp = span_of(call.func)
            torchish = name.startswith(("torch", "torchvision", "F.", "nn.")) or (
                name.count(".") == 0 and last in self.table.imports
            )
            if last in catalog.LOADERS:
                ms.append(Mention("dataloader", fsp, name))
            elif last in datasets.dataset_table() or last in catalog.DATASET_CALLS:
                ms.append(Mention("dataset", fsp, name))
            elif last in catalog.OPTIMIZERS and torchish:
                ms.append(Mention("optimizer", fsp, name))
                for kw in call.keywords:
                    if kw.arg == "lr":
                        ms.append(Mention("learning_rate", span_of(kw), name))
                    elif kw.arg == "weight_decay":
                        ms.append(Mention("weight_decay", span_of(kw), name))
            elif last in catalog.SCHEDULERS:
                ms.append(Mention("lr_scheduler", fsp, name))
            elif torchish and (last.endswith("Loss") or last in catalog.LOSS_FUNCTIONS):
                ms.append(Mention("loss", fsp, name))
            elif torchish and last in catalog.DROPOUT:
                ms.append(Mention("dropout", fsp, name))
            elif torchish and last in catalog.ACTIVATIONS:
                ms.append(Mention("activation", fsp, name))
            elif last in ("autocast", "GradScaler"):
                ms.append(Mention("precision", fsp, name))
            elif last in ("TrainingArguments", "Trainer") and torchish:
                ms.append(Mention("trainer", fsp, name))
        for call, _scope, name in self.canon:
            if name.endswith((".half", ".bfloat16")):
                ms.append(Mention("precision", span_of(call), name))


_DT = {
    "bfloat16": "bf16",
    "bf16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "fp16": "fp16",
    "float32": "fp32",
    "float": "fp32",
    "fp32": "fp32",
}


def _dtype(v: V) -> str | None:
    if not v.known:
        return None
    x = v.value
    name = x.last if isinstance(x, Symbol) else x if isinstance(x, str) else None
    if name is None:
        return None
    return _DT.get(name.rsplit(".", 1)[-1])


# -- entry point ----------------------------------------------------------------------------


def _env_for(world_size: int | None) -> dict[str, str]:
    if world_size is None:
        return {}
    # What torchrun sets: scripts that read these see a distributed run of rank 0.
    n = str(world_size)
    return {"WORLD_SIZE": n, "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": n}


def analyze_source(
    source: str,
    path: str | None = None,
    script_args: tuple[str, ...] = (),
    overrides: dict[str, object] | None = None,
    world_size: int | None = None,
    parse_cache: ParseCache | None = None,
) -> Analysis:
    """See :func:`gpulens.analysis.analyze`. With ``parse_cache`` (one per document, kept by the
    caller between versions) only the top-level statements an edit touched are parsed again and
    the symbol-table work of the others is reused; the result is the same."""
    if parse_cache is not None:
        with parse_cache.lock:
            try:
                return _analyze(source, path, script_args, overrides, world_size, parse_cache)
            except BaseException:
                parse_cache.clear()  # never reuse state an interrupted read may have left
                raise
    return _analyze(source, path, script_args, overrides, world_size, None)


def _analyze(
    source: str,
    path: str | None,
    script_args: tuple[str, ...],
    overrides: dict[str, object] | None,
    world_size: int | None,
    parse_cache: ParseCache | None,
) -> Analysis:
    file = path or "<untitled>"
    overrides = dict(overrides or {})
    if world_size is not None and (isinstance(world_size, bool) or world_size < 1):
        world_size = None  # not a GPU count: ignore rather than divide by it
    if world_size is None and "world_size" in overrides:
        w = normalise(overrides["world_size"])
        if isinstance(w, int) and not isinstance(w, bool) and w > 0:
            world_size = w
    error: str | None = None
    facts: dict[str, Fact] = {}
    mentions: list[Mention] = []
    plan = LoopPlan("none", reason="the script could not be read")
    model_reader: Reader | None = None
    try:
        lines = source.replace("\x00", " ").splitlines()
        pragmas = find_pragmas(lines) if "gpulens" in source else []
        pragma_world = next((p.value for p in pragmas if p.name == "world_size"), None)
        if world_size is None and isinstance(pragma_world, int) and pragma_world > 0:
            env_world: int | None = pragma_world  # the launcher's variables, as torchrun sets
        else:
            env_world = world_size
        tree, error = parse_tolerant(source, parse_cache)
        if tree is not None:
            hint = normalise(overrides.get("dataset_size"))
            if hint is None:
                hint = next((p.value for p in pragmas if p.name == "dataset_size"), None)
            if not isinstance(hint, int) or isinstance(hint, bool) or hint < 0:
                hint = None
            ctx = Context(tuple(script_args), _env_for(env_world), path, hint)
            table = parse_cache.symbols(tree) if parse_cache is not None else None
            reader = Reader(tree, lines, ctx, table=table)
            plan = reader.run(world_size)
            model_reader = reader  # issue 3: read once the facts are final
            facts = reader.facts
            mentions = reader.mentions
            if reader.notes and error is None:
                pass  # notes are informational (config files); facts carry their own reasons
        for p in pragmas:
            facts[p.name] = Fact(p.name, p.value, f"pragma, line {p.line}", p.span)
        if world_size is not None and "world_size" not in overrides:
            # The GPU count passed in is a user setting too: it wins over a pragma.
            facts["world_size"] = Fact("world_size", world_size, "user setting (number of GPUs)")
        for name, value in overrides.items():
            facts[name] = Fact(name, normalise(value), "user setting")
        for name in FACT_NAMES:
            if name not in facts:
                facts[name] = Fact.unknown(name, error or "not found in the script")
        if plan.mode == "none" and facts["epochs"].known:
            plan = LoopPlan("epochs")
        iterations = compute_iterations(facts, plan)
        if plan.mode == "none" and tree is not None:
            # No training step found, but a DataLoader with a known batch and dataset size still
            # says how many batches an epoch has; the total stays unknown, with the reason.
            per_epoch = compute_iterations(facts, LoopPlan("epochs", shards=plan.shards))
            if per_epoch.per_epoch is not None:
                iterations = Iterations(
                    per_epoch.per_epoch,
                    None,
                    None,
                    plan.reason or iterations.reason,
                    per_epoch.explanation,
                )
    except (RecursionError, MemoryError):
        if parse_cache is not None:
            parse_cache.clear()
        error = "the file is nested too deeply to read"
        facts = {n: Fact.unknown(n, error) for n in FACT_NAMES}
        iterations = Iterations(None, None, None, error)
        mentions = []
    except Exception as exc:
        if parse_cache is not None:
            parse_cache.clear()
        error = f"internal error in the reader: {type(exc).__name__}: {exc}"
        facts = {n: Fact.unknown(n, error) for n in FACT_NAMES}
        iterations = Iterations(None, None, None, error)
        mentions = []
    analysis = Analysis(
        file=file,
        facts=facts,
        iterations=iterations,
        mentions=mentions,
        error=error,
        source=source,
    )
    if model_reader is not None:
        # issue 3: the models the script builds, params_total and the memory estimate
        from gpulens.analysis.forward import attach_models

        batch_before = facts.get("batch_size")
        attach_models(analysis, model_reader, parse_cache.models if parse_cache else None)
        if analysis.facts.get("batch_size") is not batch_before:
            # no DataLoader: the batch size came from the model's input; count again with it
            analysis.iterations = compute_iterations(analysis.facts, plan)
            if plan.mode == "none":
                analysis.iterations = Iterations(
                    None, None, None, plan.reason or analysis.iterations.reason
                )
    return analysis


__all__ = ["analyze_source", "install_handlers", "parse_tolerant"]
