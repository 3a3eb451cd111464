"""What every lazy view shares, whichever contract it implements: a parent extractor it reads from, and the
parent's geometry, length and rate unless the view overrides them.

:class:`~ophysio.extractors.views._ParentView` (imaging) and
:class:`~ophysio.extractors.segmentation.views._ParentView` (segmentation) put this mixin before their
contract in their bases, so its methods satisfy the contract's abstract ones.
"""

from __future__ import annotations

from typing import Any


class ParentDelegation:
    """A view of ``parent``: set up with :meth:`_adopt_parent`, answering shape, planes, samples and rate
    from it."""

    _parent: Any

    def _adopt_parent(self, parent: Any, contract: type, what: str) -> None:
        if not isinstance(parent, contract):
            article = "an" if contract.__name__[0] in "AEIOU" else "a"
            raise TypeError(f"{what} needs {article} {contract.__name__}, not {type(parent).__name__}")
        self._parent = parent
        self.format_id = parent.format_id

    @property
    def parent(self) -> Any:
        """The extractor this view reads from."""
        return self._parent

    def get_num_samples(self) -> int:
        return self._parent.get_num_samples()

    def get_image_shape(self) -> tuple[int, int]:
        return self._parent.get_image_shape()

    def get_num_planes(self) -> int:
        return self._parent.get_num_planes()

    def get_sampling_frequency(self) -> float | None:
        return self._parent.get_sampling_frequency()
