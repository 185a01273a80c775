"""A compact summary of a ``torch.cuda.memory._snapshot()``: what was live at the peak.

Pure Python (no torch): the snapshot is the dict torch returns, recorded with
``torch.cuda.memory._record_memory_history(stacks="python")``. Its ``device_traces[0]`` is the
allocator's event list; replaying ``alloc`` / ``free_completed`` gives the allocated bytes over
time (what ``torch.cuda.memory_allocated()`` counts: block sizes, rounded to 512 bytes), the
moment of the peak and the blocks live then. Blocks are labelled by their innermost Python frame
(the op) and the first frame outside torch (its caller), else
``(no python frame: autograd engine / C++)`` (backward runs on autograd's own thread).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

__all__ = ["label", "replay", "summarize"]

MIB = 1 << 20
NO_FRAME = "(no python frame: autograd engine / C++)"


def _short(path: str) -> str:
    parts = path.replace("\\", "/").split("/")
    if "torch" in parts:
        return "/".join(parts[parts.index("torch") :])
    return "/".join(parts[-2:])


def _where(frame: dict[str, Any]) -> str:
    path = _short(str(frame.get("filename", "?")))
    return f"{path}:{frame.get('line', '?')} {frame.get('name', '?')}"


def label(frames: list[dict[str, Any]] | None) -> str:
    """The innermost frame (the op: ``torch/nn/modules/conv.py:... _conv_forward``) and, when
    that is inside torch, the first frame outside it (the caller), joined by `` < ``."""
    if not frames:
        return NO_FRAME
    inner = _where(frames[0])
    for f in frames:
        name = str(f.get("filename", "")).replace("\\", "/")
        if "/torch/" not in name and not name.startswith("<"):
            return inner if f is frames[0] else f"{inner} < {_where(f)}"
    return inner


def replay(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Replay one device's trace: peak allocated bytes, its event index, and the live blocks
    (addr -> (size, label)) at that moment. A free of a block allocated before recording began
    is ignored (its bytes were never counted)."""
    live: dict[int, tuple[int, str]] = {}
    total = 0
    peak = 0
    peak_at = -1
    peak_live: dict[int, tuple[int, str]] = {}
    for i, ev in enumerate(events):
        action = ev.get("action")
        addr = int(ev.get("addr", 0))
        if action == "alloc":
            size = int(ev.get("size", 0))
            live[addr] = (size, label(ev.get("frames")))
            total += size
            if total > peak:
                peak, peak_at = total, i
                peak_live = dict(live)
        elif action == "free_completed":
            block = live.pop(addr, None)
            if block is not None:
                total -= block[0]
    return {"peak": peak, "peak_event": peak_at, "events": len(events), "live": peak_live}


def summarize(snapshot: dict[str, Any], top: int = 15) -> dict[str, Any]:
    """Peak, the ``top`` largest live blocks at the peak and the live bytes per label."""
    traces = snapshot.get("device_traces") or [[]]
    events = traces[0] if traces else []
    r = replay(events)
    blocks = sorted(r["live"].values(), key=lambda b: -b[0])
    by_label: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for size, lab in blocks:
        by_label[lab][0] += size
        by_label[lab][1] += 1
    groups = sorted(by_label.items(), key=lambda kv: -kv[1][0])
    actions: dict[str, int] = defaultdict(int)
    for ev in events:
        actions[str(ev.get("action"))] += 1
    return {
        "trace_events": r["events"],
        "actions": dict(actions),
        "replayed_peak_bytes": r["peak"],
        "replayed_peak_mib": round(r["peak"] / MIB, 1),
        "peak_event_index": r["peak_event"],
        "live_blocks_at_peak": len(blocks),
        "top_blocks": [
            {"bytes": s, "mib": round(s / MIB, 2), "where": lab} for s, lab in blocks[:top]
        ],
        "by_where": [
            {"where": lab, "bytes": b, "mib": round(b / MIB, 1), "blocks": n}
            for lab, (b, n) in groups[:top]
        ],
        "oom_events": actions.get("oom", 0),
    }
