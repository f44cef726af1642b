"""Why an item was recommended, in words a reader understands.

The reason comes from the source that contributed most to the item's score: "because you read
…" (items similar to one the user read, or collaborative items sharing its tags), "matches your
interest in Tech > Phones" (the user's strongest tag affinity the item carries), "popular in
Loyal Tech Readers" (the segment's popular list), "trending now", "new", "editor's pick".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tastemaker.config import FeedbackClass
from tastemaker.pipeline.catalog import ServingCatalog
from tastemaker.pipeline.config import SourceSpec
from tastemaker.pipeline.state import Candidates, UserState


@dataclass(frozen=True)
class Reason:
    """One reason: a machine-readable ``kind`` and a sentence."""

    kind: str
    text: str
    item_id: str | None = None
    tag: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "text": self.text}
        if self.item_id is not None:
            out["item_id"] = self.item_id
        if self.tag is not None:
            out["tag"] = self.tag
        return out


class Explainer:
    """Reasons for the candidates of one request."""

    def __init__(
        self,
        specs: dict[str, SourceSpec],
        user: UserState,
        catalog: ServingCatalog,
        now: int,
        collaborative: set[str],
    ) -> None:
        self.specs = specs
        self.user = user
        self.catalog = catalog
        self.collaborative = collaborative
        profile = user.profile
        self.interests: dict[str, float] = (
            {} if profile is None else dict(profile.top_affinities("tags", now=now, n=50))
        )
        self.read: list[tuple[str, frozenset[str]]] = []
        self._closest: dict[str, str | None] = {}
        seen: set[str] = set()
        for e in user.history:  # newest first: the 20 latest distinct reads with tags
            if e.feedback is not FeedbackClass.POSITIVE or e.item_id in seen:
                continue
            seen.add(e.item_id)
            row = catalog.row(e.item_id)
            if row is not None and row.nodes:
                self.read.append((e.item_id, row.nodes))
                if len(self.read) >= 20:
                    break

    def _title(self, item_id: str) -> str:
        row = self.catalog.row(item_id)
        return row.title if row is not None and row.title else item_id

    def interest(self, item_id: str) -> Reason | None:
        """The user's strongest interest among the item's tags (deepest tag on ties)."""
        row = self.catalog.row(item_id)
        if row is None or not self.interests:
            return None
        best = max(
            ((self.interests[t], t.count(">"), t) for t in row.nodes if t in self.interests),
            default=None,
        )
        if best is None:
            return None
        tag = best[2]
        return Reason("interest", f"matches your interest in {tag}", tag=tag)

    def because_you_read(self, item_id: str, anchor: str | None) -> Reason | None:
        if anchor is None:
            if item_id not in self._closest:
                self._closest[item_id] = self._closest_read(item_id)
            anchor = self._closest[item_id]
            if anchor is None:
                return None
        return Reason("because_you_read", f"because you read “{self._title(anchor)}”", anchor)

    def _closest_read(self, item_id: str) -> str | None:
        """The latest read item sharing the most tags with ``item_id``, if any shares one."""
        row = self.catalog.row(item_id)
        if row is None or not row.nodes:
            return None
        anchor, overlap = None, 0
        for read, nodes in self.read:
            shared = len(row.nodes & nodes)
            if shared > overlap:
                anchor, overlap = read, shared
        return anchor

    def reasons(self, candidates: Candidates, position: int) -> list[Reason]:
        """Reasons for the candidate at ``position``, the main one first."""
        item = candidates.item_ids[position]
        parts = {s: float(v[position]) for s, v in candidates.contributions.items()}
        ranked = sorted((v, s) for s, v in parts.items() if v > 0)
        out: list[Reason] = []
        if candidates.promoted.size and candidates.promoted[position]:
            out.append(Reason("promoted", "promoted"))
        for _, source in reversed(ranked):
            reason = self._for_source(source, item, candidates.anchors.get(item))
            if reason is not None and reason not in out:
                out.append(reason)
            if len(out) >= 2:
                break
        interest = self.interest(item)
        if interest is not None and interest not in out:
            out.append(interest)
        if not out:
            out.append(Reason("popular", "popular with readers"))
        return out

    def _for_source(self, source: str, item: str, anchor: str | None) -> Reason | None:
        spec = self.specs.get(source)
        if spec is None:  # a learned ranker's feature, not a source
            return None
        segment = self.user.segment
        match spec.kind:
            case "similar_to_recent":
                return self.because_you_read(item, anchor)
            case "similar_to_context":
                title = self._title(anchor) if anchor else "this"
                return Reason("similar", f"similar to “{title}”", anchor)
            case "trending":
                if spec.by_segment and segment:
                    return Reason("trending", f"trending in {segment}")
                return Reason("trending", "trending now")
            case "popular":
                if spec.by_segment and segment:
                    return Reason("popular", f"popular in {segment}")
                return Reason("popular", "popular with readers")
            case "recent":
                return Reason("new", "new")
            case "pinned":
                return Reason("pinned", "editor's pick")
            case _:
                if spec.model in self.collaborative:
                    return self.because_you_read(item, None) or Reason(
                        "collaborative", "readers like you enjoyed it"
                    )
                return self.interest(item)
