"""`tfstudio images [list|build]`: images on an engine, and building one under the tag policy."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tfstudio.cli.engine_opts import add_engine_option, note
from tfstudio.cli.output import add_json, human_bytes, print_json, print_table, wants_json
from tfstudio.cli.studio_cli import cli_training


def register(subparsers: Any) -> None:
    """Adds `images` (list by default) and `images build`."""
    parser = subparsers.add_parser(
        "images", help="images on an engine; build one from a Dockerfile"
    )
    _list_options(parser)
    parser.set_defaults(handler=_list)
    sub = parser.add_subparsers(dest="images_command", metavar="SUBCOMMAND")

    lst = sub.add_parser("list", help="list images (the default)")
    _list_options(lst)
    lst.set_defaults(handler=_list)

    build = sub.add_parser("build", help="build a Dockerfile through the engine, tag pinned")
    build.add_argument("context", metavar="DIR", help="build context with a Dockerfile")
    build.add_argument("--tag", "-t", required=True, help="NAME:VERSION (latest is refused)")
    build.add_argument("--file", "-f", default="Dockerfile", help="Dockerfile name in DIR")
    build.add_argument(
        "--build-arg", action="append", default=[], metavar="K=V", help="build argument"
    )
    build.add_argument(
        "--allow-latest", action="store_true", help="allow latest/floating tags (recorded)"
    )
    build.add_argument("--no-pull", action="store_true", help="never pull a missing base image")
    add_engine_option(build)
    add_json(build)
    build.set_defaults(handler=_build)


def _list_options(parser: argparse.ArgumentParser) -> None:
    add_engine_option(parser)
    parser.add_argument(
        "--probe",
        action="store_true",
        help="ask images without a TensorFlow label for their version (cached by image id)",
    )
    add_json(parser)


def _list(args: argparse.Namespace) -> int:
    with cli_training() as training:
        images = training.images(args.engine, probe=args.probe)
    if wants_json(args):
        print_json([i.to_json() for i in images])
        return 0
    rows = [
        [
            i.repository,
            i.tag,
            i.id.split(":")[-1][:12],
            (i.digest or "-").split("@")[-1][:19],
            human_bytes(i.size_bytes),
            i.created.replace("T", " ")[:16],
            i.tf_version,
        ]
        for i in images
    ]
    print_table(["repository", "tag", "id", "digest", "size", "created", "tensorflow"], rows)
    return 0


def _build(args: argparse.Namespace) -> int:
    from tfstudio.cli.progress import EventPrinter
    from tfstudio.errors import UsageError
    from tfstudio.operations import Stage

    context = Path(args.context)
    if not context.is_dir():
        raise UsageError(f"build context {context} is not a directory")
    build_args = {}
    for item in args.build_arg:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--build-arg {item!r} is not K=V")
        build_args[key] = value
    # The engine's build output as `docker build` prints it; pulls as progress.
    with (
        cli_training() as training,
        EventPrinter(stages={Stage.PULL}, bare={Stage.PULL, Stage.BUILD}) as printer,
    ):
        result = training.build_image(
            context,
            args.tag,
            engine=args.engine,
            dockerfile=args.file,
            build_args=build_args,
            allow_latest=args.allow_latest,
            pull=not args.no_pull,
            on_event=printer,
        )
    if wants_json(args):
        print_json(result.to_json())
        return 0
    print(f"built {result.tag} ({result.image_id.split(':')[-1][:12]}) in {result.seconds:.1f}s")
    for base in result.bases:
        print(f"  base {base['ref']} digest {base['digest']} ({base['digest_kind']})")
    if result.override:
        note(f"tag policy overridden: {result.override}")
    return 0
