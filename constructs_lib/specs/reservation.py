"""``ReservationSpec``: which Compute Engine reservations a model's machines consume, for either
runtime (a VM fleet's instance template, a GKE node pool's nodes): one shape, the API's values."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from constructs_lib.errors import Spec, invalid
from constructs_lib.values import check_unique

RESERVATION_KEY = "compute.googleapis.com/reservation-name"
"""Label key that selects specific reservations by name (``reservation_affinity``)."""

_RESERVATION_NAME = re.compile(r"^(projects/[a-z][-a-z0-9]{4,28}[a-z0-9]/reservations/)?[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


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
    names: tuple[str, ...] = Field(
        default=(),
        description="Reservation names (SPECIFIC_RESERVATION only), or projects/<p>/reservations/<name> for a shared one.",
    )

    @field_validator("names")
    @classmethod
    def _names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, name in enumerate(value):
            if not _RESERVATION_NAME.fullmatch(name):
                raise invalid(f"names[{index}]", name, "must be a reservation name or projects/<project>/reservations/<name>")
        check_unique(value, "names", "reservation")
        return value

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
