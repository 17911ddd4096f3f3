"""Floor 8: the `minigan` command. Options map 1:1 to library arguments; no logic of its own.

One module per family of commands:

    train      train (a new run, or --resume)
    generate   sample, interpolate
    evaluate   eval, judge, inspect
    bench      bench, gradcheck
    ablate     ablate
    doctor     doctor (the GPU proof)

Every command has the library check its input before any expensive work (data loading, judge
training, model building). A mistake, the library's (MiniganError) or click's (a bad option
value), is printed as one sentence on stderr, ``Error: ...``, without a traceback, and the
command exits with status 2 (``decorators``).
"""

import click

from minigan import __version__
from minigan.cli import ablate, bench, doctor, evaluate, generate, train
from minigan.cli.decorators import CommandGroup, device_option, friendly_errors, seed_option


@click.group("minigan", cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="minigan")
def main():
    """minigan: a GAN engine written from scratch.

    \b
    Start here:
      minigan train mnist            train a DCGAN on MNIST with sensible defaults
      minigan gradcheck              watch every op's gradient being checked
      minigan bench --against torch  time a DCGAN step beside PyTorch
      minigan ablate                 compare the GAN training techniques on MNIST
      minigan doctor --gpu           prove the GPU path on this machine, in one report
    """


for command in (bench.gradcheck, bench.bench, train.train, generate.sample, generate.interpolate,
                evaluate.judge_command, evaluate.eval_command, evaluate.inspect_command, ablate.ablate_command,
                doctor.doctor_command):
    main.add_command(command)

__all__ = ["main", "device_option", "friendly_errors", "seed_option"]
