"""``ReservationSpec``: which Compute Engine reservations a model's machines consume, for either
runtime (a VM fleet's instance template, a GKE node pool's nodes): one shape, the API's values."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from constructs_lib.errors import Spec, invalid
from constructs_lib.values import pattern_type, unique

RESERVATION_KEY = "compute.googleapis.com/reservation-name"
"""Label key that selects specific reservations by name (``reservation_affinity``)."""

ReservationName = pattern_type(
    re.compile(r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/reservations/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"),
    "must be a reservation name or projects/<project>/reservations/<name>",
)
"""Spec field type: a reservation of this project, or a shared one by its path."""


class ReservationSpec(Spec):
    """Which reservations the machines consume (``reservation_affinity``). A regional group or
    pool consumes a SPECIFIC reservation in each zone it uses: create one with the same name in
    every zone. Spot VMs cannot consume reservations; flex-start and queued GKE pools never do."""

    consume: Literal["SPECIFIC_RESERVATION", "ANY_RESERVATION", "NO_RESERVATION"] = Field(
        default="SPECIFIC_RESERVATION",
        description="Defaults to SPECIFIC_RESERVATION: only the named reservations, so reserved GPUs are not taken by other "
        "workloads' machines and the model never silently runs outside them. ANY_RESERVATION: any matching one, then "
        "on-demand capacity (GCP's default without this table); NO_RESERVATION: never consume one.",
    )
    names: Annotated[tuple[ReservationName, ...], unique("reservation")] = Field(  # type: ignore[valid-type]
        default=(),
        description="Reservation names (SPECIFIC_RESERVATION only), or projects/<p>/reservations/<name> for a shared one.",
    )

    @model_validator(mode="after")
    def _specific(self) -> "ReservationSpec":
        if self.consume == "SPECIFIC_RESERVATION" and not self.names:
            raise invalid("names", [], "SPECIFIC_RESERVATION needs at least one reservation name")
        if self.consume != "SPECIFIC_RESERVATION" and self.names:
            raise invalid("names", list(self.names), f"names apply to SPECIFIC_RESERVATION only, not {self.consume}")
        return self

    @property
    def consumes(self) -> bool:
        """Whether any reservation may be consumed (not NO_RESERVATION)."""
        return self.consume != "NO_RESERVATION"
