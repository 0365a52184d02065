"""How many customers a churn-risk model needs, apart from the training code.

The worker's risk job asks on every pass whether there is enough data to
train; that question must not load NumPy (see karn.risk.training), so an empty
`flask surveys dispatch` from cron starts quickly.
"""

MIN_DEPARTED = 200
MIN_ACTIVE = 200


class TooLittleData(Exception):
    """Fewer departed or active customers than a model needs."""

    def __init__(self, departed: int, active: int):
        super().__init__(
            f"too little data: {departed} departed and {active} active customers; "
            f"a model needs at least {MIN_DEPARTED} of each"
        )
        self.departed, self.active = departed, active


class NothingToLearn(Exception):
    """Every column was left out: no attribute a model could learn from.
    ``left_out``: column → why (as the evaluation line gives it)."""

    def __init__(self, left_out: dict[str, str]):
        super().__init__(
            "nothing to learn from: every column was left out ("
            + ", ".join(f"{name}: {why}" for name, why in left_out.items())
            + ")"
        )
        self.left_out = left_out
