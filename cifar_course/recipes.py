"""What a profile trains, behind one interface: the staged CNN (lessons 01-08) or the speedrun (09).

A profile names its recipe (``Profile.recipe``); ``recipe_of(profile)`` gives the
object, and the runner, the command line and the lessons ask it what they need
(which runs there are, how to train one, what settings a recorded run must
match) instead of branching on the recipe's name.
"""

from __future__ import annotations

from pathlib import Path

from .profiles import Profile, get_profile


class StagedRecipe:
    """The course's recipe: the stages of ``stages.py``, one technique each."""

    name = "stages"

    def run_names(self, profile: Profile, names=None) -> list[str]:
        """The stages asked for (default: all), by name."""
        from .stages import STAGES, get_stage

        return [get_stage(s).name for s in names] if names else [s.name for s in STAGES]

    def settings(self) -> dict:
        """The recipe's own hyper-parameters a recorded run must match (a stage's are in
        the profile and the stage)."""
        return {}

    def changes(self, run: str) -> dict:
        """What ``run`` changes from the recipe's own settings (a stage: nothing)."""
        return {}

    def title(self, run: str) -> str:
        from .stages import get_stage

        return get_stage(run).title

    def default_run(self) -> str:
        from .stages import FINAL_STAGE

        return FINAL_STAGE.name

    def run_for(self, asked: str | int | None) -> str:
        """The run ``cifar-course train --stage asked`` trains: that stage."""
        from .stages import get_stage

        return get_stage(asked).name if asked is not None else self.default_run()

    def names(self, run: str | int) -> bool:
        """Whether ``run`` names one of this recipe's runs (a stage, by name or number)."""
        from .stages import get_stage

        try:
            get_stage(run)
        except KeyError:
            return False
        return True

    def profile_for(self, profile: Profile) -> Profile:
        """``profile``, which must train the course's stages."""
        if recipe_of(profile) is not self:
            raise ValueError(f"profile {profile.name!r} trains the {profile.recipe}, not the "
                             f"course's stages: choose one of "
                             f"{', '.join(profiles_of(self))} for lessons 01-08")
        return profile

    def previous_run(self, run: str) -> str | None:
        """The stage before ``run``, which a lesson plots its run beside (none before 1)."""
        from .stages import STAGES, get_stage

        number = get_stage(run).number
        return STAGES[number - 2].name if number > 1 else None

    def comparison(self, run: str, profile: Profile) -> str:
        """The stages up to ``run``: this folder's runs beside the references."""
        from .comparisons import comparison_table
        from .stages import STAGES, get_stage

        return comparison_table(STAGES[:get_stage(run).number], profile)

    def augments(self, run: str) -> bool:
        """Whether ``run``'s model holds the course's augmentation layers."""
        from .stages import get_stage

        return get_stage(run).model.augment

    def describe(self, run: str, profile: Profile, data, seed: int) -> str:
        from .stages import get_stage
        from .training import describe_run

        return describe_run(get_stage(run), profile, data, seed)

    def train(self, run: str, profile: Profile, *, seed: int, data, out_dir: Path | None = None,
              verbose="auto", extra_callbacks=(), model=None, optimizer=None, loss=None,
              callbacks=None):
        """Train stage ``run``; ``model``, ``optimizer``, ``loss`` and ``callbacks``
        replace the stage's own (a lesson passes what its student built)."""
        from .training import train_stage

        return train_stage(run, profile, seed=seed, data=data, out_dir=out_dir, verbose=verbose,
                           extra_callbacks=list(extra_callbacks), model=model,
                           optimizer=optimizer, loss=loss, callbacks=callbacks)


class SpeedrunRecipe:
    """Lesson 09's speedrun (airbench94's ideas) and its ablation's variants."""

    name = "speedrun"
    # The speedrun profile that stands for each course profile (lesson 09 runs in
    # the profile its student chose for the other lessons, or the grader's).
    PROFILES = {"smoke": "speedrun-smoke", "grade": "speedrun-grade", "quick": "speedrun-quick",
                "full": "speedrun"}

    def run_names(self, profile: Profile, names=None) -> list[str]:
        """The speedrun and the variants asked for (default: the speedrun alone)."""
        from .speedrun.recipe import NAME, VARIANTS

        for name in names or ():
            if name != NAME and name not in VARIANTS:
                raise ValueError(f"profile {profile.name!r} runs the speedrun ({NAME!r}) or its "
                                 f"variants ({', '.join(VARIANTS)}), not {name!r}")
        return list(names) if names else [NAME]

    def settings(self) -> dict:
        from .speedrun import SPEEDRUN

        return SPEEDRUN.settings()

    def changes(self, run: str) -> dict:
        """A variant's settings that differ from the speedrun's (recorded with each of its
        runs, so that a redefined variant is measured again)."""
        from .speedrun.recipe import SPEEDRUN, speedrun_config

        base, variant = SPEEDRUN.settings(), speedrun_config(run).settings()
        return {k: v for k, v in variant.items() if base.get(k) != v}

    def title(self, run: str) -> str:
        return "Speedrun" if run == self.default_run() else f"Speedrun ({run})"

    def default_run(self) -> str:
        from .speedrun.recipe import NAME

        return NAME

    def run_for(self, asked: str | int | None) -> str:
        """The speedrun, whatever stage is asked for (a speedrun profile runs no stage)."""
        return self.default_run()

    def names(self, run: str | int) -> bool:
        """Whether ``run`` names the speedrun or one of its variants."""
        from .speedrun.recipe import NAME, VARIANTS

        return run == NAME or run in VARIANTS

    def previous_run(self, run: str) -> str | None:
        return None  # the speedrun is set beside the references, not beside a run

    def comparison(self, run: str, profile: Profile) -> str:
        """The speedrun's references beside the course's final stage."""
        from .comparisons import speedrun_table

        return speedrun_table(profile)

    def augments(self, run: str) -> bool:
        return False  # its flips and translations are in its input pipeline, not its model

    def describe(self, run: str, profile: Profile, data, seed: int) -> str:
        return (f"{run}, seed {seed} | profile {profile.name}: {len(data.x_train):,} train "
                f"images, {profile.epochs} epochs of batch {profile.batch_size}")

    def train(self, run: str, profile: Profile, *, seed: int, data, out_dir: Path | None = None,
              verbose="auto", extra_callbacks=(), model=None, **pieces):
        """Train ``run`` (the speedrun or a variant); ``model`` replaces its network. Its
        optimizer, loss and schedule are the recipe's: they are what the lesson studies."""
        if pieces:
            raise TypeError(f"the speedrun trains with its own optimizer, loss and schedule, so "
                            f"it takes no {', '.join(sorted(pieces))}: pass a model, or a "
                            f"variant (speedrun.VARIANTS) to change one idea")
        # A resumed speedrun restarts its weight average from the restored weights.
        from .speedrun import speedrun_config, train_speedrun

        return train_speedrun(profile, seed=seed, data=data, config=speedrun_config(run),
                              out_dir=out_dir, verbose=verbose, model=model,
                              extra_callbacks=list(extra_callbacks))

    def profile_for(self, profile: Profile) -> Profile:
        """``profile`` if it runs the speedrun, else the speedrun profile standing for it."""
        if recipe_of(profile) is self:
            return profile
        return get_profile(self.PROFILES.get(profile.name, "speedrun-quick"))


STAGED, SPEEDRUN_RECIPE = StagedRecipe(), SpeedrunRecipe()
RECIPES = {recipe.name: recipe for recipe in (STAGED, SPEEDRUN_RECIPE)}


def profiles_of(recipe) -> list[str]:
    """The names of the profiles that train ``recipe``."""
    from .profiles import PROFILES

    return [name for name, profile in PROFILES.items() if recipe_of(profile) is recipe]


def recipe_named_by(run: str | int):
    """The recipe one of whose runs ``run`` names (``"adamw"``, ``5``, ``"speedrun"``)."""
    for recipe in RECIPES.values():
        if recipe.names(run):
            return recipe
    from .speedrun.recipe import NAME
    from .stages import STAGES

    raise ValueError(f"no lesson trains {run!r}: name a stage ("
                     f"{', '.join(f'{s.number}={s.name}' for s in STAGES)}) or {NAME!r}")


def recipe_of(profile: Profile):
    """The recipe ``profile`` trains."""
    try:
        return RECIPES[profile.recipe]
    except KeyError:
        raise ValueError(f"profile {profile.name!r} names an unknown recipe {profile.recipe!r}: "
                         f"one of {', '.join(RECIPES)}") from None
