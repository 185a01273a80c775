"""PyTorch Lightning and Hugging Face Trainer: their own rules for epochs, steps and batches.

Lightning: ``Trainer(max_epochs=, max_steps=, accumulate_grad_batches=, devices=, num_nodes=,
precision=, limit_train_batches=)``; batches from ``trainer.fit(model, loader | datamodule)``
or the module's ``train_dataloader()``. Defaults are Lightning's: max_epochs 1000 when neither
max_epochs nor max_steps is set, accumulation steps at the end of every epoch too (ceil).

Hugging Face: ``TrainingArguments(num_train_epochs=3.0, per_device_train_batch_size=8,
gradient_accumulation_steps=1, max_steps=-1, dataloader_drop_last=False, fp16/bf16,
learning_rate=5e-5)`` (the library's defaults) and ``Trainer(train_dataset=...)``.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from gpulens.analysis.facts import SUPPLY, Fact, Span
from gpulens.analysis.values import (
    DatasetVal,
    FuncVal,
    InstanceVal,
    LoaderVal,
    SeqVal,
    V,
    span_of,
    unknown,
)
from gpulens.estimate.iterations import LoopPlan

if TYPE_CHECKING:
    from gpulens.analysis.reader import Reader
    from gpulens.analysis.symbols import Scope


_LIGHTNING_PRECISION = {
    "16-mixed": "amp_fp16",
    "16": "amp_fp16",
    16: "amp_fp16",
    "bf16-mixed": "amp_bf16",
    "bf16": "amp_bf16",
    "32": "fp32",
    32: "fp32",
    "32-true": "fp32",
    "16-true": "fp16",
    "bf16-true": "bf16",
    "64": "fp64",
    64: "fp64",
    "64-true": "fp64",
    "transformer-engine": "fp8",
    "transformer-engine-float16": "fp8",
}

_HF_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3.0,
    "per_device_train_batch_size": 8,
    "gradient_accumulation_steps": 1,
    "max_steps": -1,
    "dataloader_drop_last": False,
    "learning_rate": 5e-5,
    "weight_decay": 0.0,
    "lr_scheduler_type": "linear",
    "optim": "adamw_torch",
}


class Frameworks:
    def __init__(self, reader: Reader) -> None:
        self.r = reader
        self.ev = reader.ev
        #: Where training starts (``trainer.fit(...)`` / ``trainer.train()``), for the hint.
        self.anchor: ast.AST | None = None
        #: Spans of trainer keywords (``per_device_train_batch_size=16``), for mentions.
        self.keyword_spans: dict[str, Span] = {}

    def _kwargs(self, call: ast.Call, scope: Scope) -> dict[str, V]:
        out: dict[str, V] = {}
        pos = (call.lineno, call.col_offset)
        for kw in call.keywords:
            if kw.arg is not None:
                self.keyword_spans.setdefault(kw.arg, span_of(kw))
            v = self.ev.eval(kw.value, scope, pos)
            if kw.arg is None:
                d = v.value if v.known else None
                items = getattr(d, "items", None) or getattr(d, "attrs", None)
                if isinstance(items, dict):
                    for k, iv in items.items():
                        out[str(k)] = iv
                continue
            if v.known and v.source == "literal":
                v = v.with_source(f"`{kw.arg}={self.ev.segment(kw.value)}` at line {kw.lineno}")
            out[kw.arg] = v
        return out

    def _find_anchor(self, method: str) -> None:
        for call, _scope in self.ev.callers(method):
            f = call.func
            if (
                isinstance(f, ast.Attribute)
                and f.attr == method
                and "trainer" in (self.ev.segment(f.value).lower())
            ):
                self.anchor = call
                return

    def detect(self) -> LoopPlan | None:
        hf_args: tuple[ast.Call, Scope, str] | None = None
        hf_trainer: tuple[ast.Call, Scope, str] | None = None
        pl_trainer: tuple[ast.Call, Scope, str] | None = None
        for call, scope, name in self.r.canon:
            last = name.rsplit(".", 1)[-1]
            if last in ("TrainingArguments", "Seq2SeqTrainingArguments", "SFTConfig"):
                hf_args = hf_args or (call, scope, name)
            elif last in ("Trainer", "Seq2SeqTrainer", "SFTTrainer"):
                if name.startswith(("transformers", "trl")):
                    hf_trainer = hf_trainer or (call, scope, name)
                elif "lightning" in name:
                    pl_trainer = pl_trainer or (call, scope, name)
        if pl_trainer is not None:
            self._find_anchor("fit")
            self.anchor = self.anchor or pl_trainer[0]
            return self._lightning(*pl_trainer)
        if hf_args is not None or hf_trainer is not None:
            self._find_anchor("train")
            self.anchor = self.anchor or (hf_trainer or hf_args or (None,))[0]
            return self._hf(hf_args, hf_trainer)
        return None

    # -- Lightning ----------------------------------------------------------------------------
    def _lightning(self, call: ast.Call, scope: Scope, name: str) -> LoopPlan:
        facts = self.r.facts
        kw = self._kwargs(call, scope)
        where = f"Lightning `{name.rsplit('.', 1)[-1]}` at line {call.lineno}"
        max_steps = kw.get("max_steps")
        max_epochs = kw.get("max_epochs")
        steps_set = max_steps is not None and (
            not max_steps.known or max_steps.value not in (-1, None)
        )
        if max_epochs is None or (max_epochs.known and max_epochs.value is None):
            if steps_set:
                facts["epochs"] = Fact(
                    "epochs", None, f"{where}: no max_epochs, so max_steps ends training"
                )
            else:
                facts["epochs"] = Fact(
                    "epochs",
                    1000,
                    f"{where}: Lightning's default max_epochs"
                    " (1000 when neither max_epochs nor max_steps is set)",
                    span_of(call),
                )
        else:
            facts["epochs"] = self.r_fact("epochs", max_epochs, call)
        if max_steps is None:
            facts["max_steps"] = Fact("max_steps", None, f"{where}: max_steps not set")
        else:
            facts["max_steps"] = self.r_fact("max_steps", max_steps, call)
        acc = kw.get("accumulate_grad_batches")
        facts["grad_accum_steps"] = (
            self.r_fact("grad_accum_steps", acc, call)
            if acc is not None
            else Fact("grad_accum_steps", 1, f"{where}: accumulate_grad_batches not set (1)")
        )
        devices = kw.get("devices") or kw.get("gpus")
        nodes = kw.get("num_nodes")
        world = self._devices(devices, nodes, where, call)
        if world is not None:
            facts["world_size"] = world
        prec = kw.get("precision")
        if prec is not None:
            if prec.known and prec.value in _LIGHTNING_PRECISION:
                facts["precision"] = Fact(
                    "precision",
                    _LIGHTNING_PRECISION[prec.value],
                    f"{where}: precision={prec.value!r}",
                    prec.span,
                )
            elif not prec.known:
                facts["precision"] = Fact.unknown("precision", f"{where}: {prec.reason}")
        limit: float | int | None = None
        lim = kw.get("limit_train_batches")
        if (
            lim is not None
            and lim.known
            and isinstance(lim.value, int | float)
            and not (isinstance(lim.value, float) and lim.value == 1.0)
        ):
            limit = lim.value
        self._lightning_data()
        return LoopPlan("lightning", accum_rounding="ceil", shards=True, limit_batches=limit)

    def r_fact(self, name: str, v: V, call: ast.Call) -> Fact:
        from gpulens.analysis.reader import fact_from

        return fact_from(name, v, span_of(call))

    def _devices(
        self, devices: V | None, nodes: V | None, where: str, call: ast.Call
    ) -> Fact | None:
        if "world_size" in self.r.facts or getattr(self.r, "user_world", None) is not None:
            return None  # the user's GPU count wins (set by the reader)
        n_nodes = 1
        if nodes is not None:
            if not nodes.known or not isinstance(nodes.value, int):
                return Fact.unknown("world_size", f"{where}: num_nodes: {nodes.reason}")
            n_nodes = nodes.value
        if devices is None or (devices.known and devices.value in ("auto", -1, "-1")):
            # Lightning's default uses every visible GPU; one is the common case, and the
            # assumption is spelled out in the source so it is never silent.
            return Fact(
                "world_size",
                n_nodes,
                f"assumed {n_nodes}: {where} has devices='auto' (every visible GPU);"
                f" {SUPPLY.format(name='world_size')}",
                span_of(call),
            )
        if not devices.known:
            return Fact.unknown("world_size", f"{where}: devices: {devices.reason}")
        d = devices.value
        if isinstance(d, SeqVal):
            count = len(d.items)
        elif isinstance(d, int) and not isinstance(d, bool):
            count = d
        elif isinstance(d, str) and d.isdigit():
            count = int(d)
        elif isinstance(d, str) and "," in d:
            count = len([x for x in d.split(",") if x.strip()])
        else:
            return Fact.unknown("world_size", f"{where}: devices={d!r} is not a count")
        src = f"{where}: devices={count}" + (f" × num_nodes={n_nodes}" if n_nodes != 1 else "")
        return Fact("world_size", count * n_nodes, src, devices.span)

    def _call_method(self, inst: V, method: str) -> V | None:
        fv = self.ev.get_attr(inst, method, inst.span or span_of(self.ev.table.module.node))
        if not fv.known or not isinstance(fv.value, FuncVal):
            return None
        f = fv.value
        rets = f.scope.bindings.get("<return>")
        if not rets:
            return None
        from gpulens.analysis.values import Frame

        params = f.scope.params()
        frame = Frame({params[0]: inst} if params else {})
        return self.ev._first_return(rets, frame, f"{method}()")

    def _lightning_data(self) -> None:
        loader: V | None = None
        fit_call: ast.Call | None = None
        for call, scope in self.ev.callers("fit"):
            f = call.func
            if isinstance(f, ast.Attribute) and f.attr == "fit" and call.args:
                fit_call = call
                pos = (call.lineno, call.col_offset)
                cand: list[ast.expr] = list(call.args[1:2])
                for kw in call.keywords:
                    if kw.arg in ("train_dataloaders", "datamodule", "train_dataloader"):
                        cand.append(kw.value)
                model = self.ev.eval(call.args[0], scope, pos)
                for node in cand:
                    v = self.ev.eval(node, scope, pos)
                    if v.known and isinstance(v.value, LoaderVal):
                        loader = v
                    elif v.known and isinstance(v.value, InstanceVal):
                        loader = self._call_method(v, "train_dataloader")
                if loader is None and model.known and isinstance(model.value, InstanceVal):
                    loader = self._call_method(model, "train_dataloader")
                break
        if loader is None:
            # No fit() we can follow: use the train_dataloader() of the DataModule class.
            self.r.train_loader = self.r.pick_loader(self.r.loaders(), set())
            if self.r.train_loader is not None:
                c, s = self.r.train_loader
                loader = self.ev.eval(c, s, (c.lineno, c.col_offset))
        self._loader_facts(loader, fit_call)

    def _loader_facts(self, loader: V | None, anchor: ast.AST | None) -> None:
        facts = self.r.facts
        if loader is None or not loader.known or not isinstance(loader.value, LoaderVal):
            reason = (
                loader.reason
                if loader is not None and loader.reason
                else "no training DataLoader the reader can follow"
            )
            facts.setdefault(
                "batch_size",
                Fact.unknown("batch_size", f"{reason}; {SUPPLY.format(name='batch_size')}"),
            )
            facts.setdefault(
                "dataset_size",
                Fact.unknown("dataset_size", f"{reason}; {SUPPLY.format(name='dataset_size')}"),
            )
            return
        from gpulens.analysis.reader import fact_from

        ld = loader.value
        self.r.train_loader = (ld.node, self._scope_of_call(ld.node))
        facts["batch_size"] = fact_from("batch_size", ld.batch, span_of(ld.node))
        n = self.ev.length(ld.dataset, span_of(ld.node))
        if n.known and ld.dataset.known and isinstance(ld.dataset.value, DatasetVal):
            n = V(n.value, ld.dataset.value.desc, ld.dataset.span)
        elif not n.known:
            n = unknown(f"{n.reason}; {SUPPLY.format(name='dataset_size')}", n.span)
        facts["dataset_size"] = fact_from("dataset_size", n, span_of(ld.node))
        facts["drop_last"] = fact_from("drop_last", ld.drop_last)

    def _scope_of_call(self, call: ast.Call) -> Scope:
        for c, s in self.ev.callers("DataLoader"):
            if c is call:
                return s
        return self.ev.table.module

    # -- Hugging Face -------------------------------------------------------------------------
    def _hf(
        self,
        args: tuple[ast.Call, Scope, str] | None,
        trainer: tuple[ast.Call, Scope, str] | None,
    ) -> LoopPlan:
        facts = self.r.facts
        kw: dict[str, V] = {}
        where = "Hugging Face TrainingArguments"
        anchor: ast.Call | None = None
        if args is not None:
            call, scope, name = args
            anchor = call
            kw = self._kwargs(call, scope)
            where = f"`{name.rsplit('.', 1)[-1]}` at line {call.lineno}"

        def get(key: str) -> V:
            if key in kw:
                return kw[key]
            return V(_HF_DEFAULTS[key], f"Hugging Face default {key}={_HF_DEFAULTS[key]!r}")

        from gpulens.analysis.reader import fact_from

        sp = span_of(anchor) if anchor is not None else None
        facts["batch_size"] = fact_from("batch_size", get("per_device_train_batch_size"), sp)
        facts["epochs"] = fact_from("epochs", get("num_train_epochs"), sp)
        ms = get("max_steps")
        if ms.known and isinstance(ms.value, int) and ms.value > 0:
            facts["epochs"] = Fact(
                "epochs", None, f"not used: max_steps={ms.value} overrides num_train_epochs"
            )
        facts["max_steps"] = (
            fact_from("max_steps", ms, sp)
            if not ms.known or ms.value != -1
            else Fact("max_steps", None, "Hugging Face default max_steps=-1 (train by epochs)")
        )
        facts["grad_accum_steps"] = fact_from(
            "grad_accum_steps", get("gradient_accumulation_steps"), sp
        )
        facts["drop_last"] = fact_from("drop_last", get("dataloader_drop_last"), sp)
        for flag, mode in (("bf16", "amp_bf16"), ("fp16", "amp_fp16")):
            v = kw.get(flag)
            if v is not None:
                if not v.known:
                    facts["precision"] = Fact.unknown("precision", f"{where}: {flag}: {v.reason}")
                    break
                if v.value:
                    facts["precision"] = Fact("precision", mode, f"{where}: {flag}=True", v.span)
                    break
        lr = get("learning_rate")
        wd = get("weight_decay")
        optim = get("optim")
        facts["learning_rate"] = fact_from("learning_rate", lr, sp)
        if optim.known:
            cls = {
                "adamw_torch": "AdamW",
                "adamw_hf": "AdamW",
                "adamw_torch_fused": "AdamW",
                "adafactor": "Adafactor",
                "sgd": "SGD",
                "adagrad": "Adagrad",
                "adamw_bnb_8bit": "AdamW8bit",
                "adamw_8bit": "AdamW8bit",
            }.get(str(optim.value), str(optim.value))
            facts["optimizer"] = Fact(
                "optimizer",
                {
                    "class": cls,
                    "lr": lr.value if lr.known else None,
                    "weight_decay": wd.value if wd.known else None,
                },
                f"{where}: optim={optim.value!r} (the Trainer builds it)",
                sp,
            )
        sched = get("lr_scheduler_type")
        if sched.known:
            facts["lr_scheduler"] = Fact(
                "lr_scheduler",
                {"class": str(sched.value)},
                f"{where}: lr_scheduler_type={sched.value!r}",
                sp,
            )
        facts.setdefault(
            "loss",
            Fact("loss", "model-defined", "the Hugging Face Trainer uses the model's own loss"),
        )
        if "world_size" not in facts:
            facts["world_size"] = Fact(
                "world_size",
                1,
                "assumed 1: a plain `python` run is one process (torchrun --nproc_per_node sets"
                f" more); {SUPPLY.format(name='world_size')}",
            )
        # The dataset: Trainer(train_dataset=...).
        if trainer is not None:
            call, scope, _name = trainer
            ds: V | None = None
            for k in call.keywords:
                if k.arg == "train_dataset":
                    ds = self.ev.eval(k.value, scope, (call.lineno, call.col_offset))
            if ds is None:
                facts["dataset_size"] = Fact.unknown(
                    "dataset_size",
                    "Trainer(train_dataset=...) not found; " + SUPPLY.format(name="dataset_size"),
                    span_of(call),
                )
            else:
                n = self.ev.length(ds, span_of(call))
                if n.known and ds.known and isinstance(ds.value, DatasetVal):
                    n = V(n.value, ds.value.desc, ds.span)
                elif not n.known:
                    n = unknown(f"{n.reason}; {SUPPLY.format(name='dataset_size')}", n.span)
                facts["dataset_size"] = fact_from("dataset_size", n, span_of(call))
        else:
            facts["dataset_size"] = Fact.unknown(
                "dataset_size",
                "no Trainer(train_dataset=...) found; " + SUPPLY.format(name="dataset_size"),
            )
        return LoopPlan("hf", accum_rounding="floor", shards=True)
