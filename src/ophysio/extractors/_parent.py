"""What every lazy view shares, whichever contract it implements: a parent extractor it reads from, and the
parent's geometry, length, rate, channel, metadata, files, facts and times unless the view overrides them.

:class:`~ophysio.extractors.views._ParentView` (imaging) and
:class:`~ophysio.extractors.segmentation.views._ParentView` (segmentation) put this mixin before their
contract in their bases, so its methods satisfy the contract's abstract ones.
"""

from __future__ import annotations

from typing import Any


class ParentDelegation:
    """A view of ``parent``: set up with :meth:`_adopt_parent`, answering shape, planes, samples, rate,
    channel, metadata, files, facts and times from it."""

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

    @property
    def channel_name(self) -> str:
        return self._parent.channel_name

    def get_channel_names(self) -> list[str]:
        return self._parent.get_channel_names()

    def get_metadata(self) -> dict:
        return self._parent.get_metadata()

    def get_file_paths(self) -> list[str]:
        return self._parent.get_file_paths()

    def get_acquisition_facts(self) -> Any:
        """The parent's facts (views that change the geometry or the rate adjust them)."""
        return self._parent.get_acquisition_facts()

    def _get_native_timestamps(self) -> Any:
        return self._parent.get_timestamps() if self._parent.has_recorded_times() else None

    def has_time_vector(self) -> bool:
        """Whether times were set with ``set_times`` on this view or on its parent (whose times it shows,
        sliced or binned as the view is), as roiextractors' views answer."""
        return self._times is not None or self._parent.has_time_vector()

    def _regular_timestamps(self, start: int, stop: int) -> Any:
        return self._parent._regular_timestamps(start, stop)
