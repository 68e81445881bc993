"""A dozen short documents about a harbour, and questions each answered by one of them: a corpus small enough for
tests that embed it several times (one embedding version after another)."""

from __future__ import annotations

SUBJECTS = {
    "seals": "Harbour seals haul out on the rocks at low tide and slip back into the water when the tide turns.",
    "gulls": "Herring gulls nest on the cliffs and steal chips from the tourists walking along the promenade.",
    "lighthouse": "The lighthouse keeper climbs one hundred steps each evening to light the lamp above the reef.",
    "ferry": "The ferry to the island leaves twice a day and carries cars, bicycles and sheep across the sound.",
    "crabs": "Shore crabs hide under the seaweed and pinch the toes of children who lift the stones.",
    "storm": "Winter storms push the waves over the harbour wall and flood the fish market twice a year.",
    "nets": "Fishermen mend their nets on the quay, knotting the torn mesh with a wooden needle.",
    "kelp": "Kelp forests sway offshore, sheltering young fish from the seals that hunt them.",
    "tide": "The moon pulls the sea: a spring tide comes after a full moon and rises higher than usual.",
    "boats": "Rowing boats are hauled up the slipway before every storm and turned over on the shingle.",
    "puffins": "Puffins return to the island each spring to dig burrows in the grassy cliff tops.",
    "market": "At dawn the fish market sells mackerel, cod and crab straight from the boats.",
}
QUERIES = {
    "when do seals rest on the rocks": "seals",
    "who lights the lamp on the reef": "lighthouse",
    "how to cross to the island with a car": "ferry",
    "why the sea rises higher after a full moon": "tide",
    "birds digging burrows in the cliffs": "puffins",
}
