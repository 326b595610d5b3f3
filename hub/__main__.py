"""``python -m hub``: list, inspect, save and push models.

Examples:
    python -m hub list 'alternet*'
    python -m hub info alternet_50 --preset imagenet
    python -m hub info alternet-tiny-cifar10
    python -m hub save resnet_tiny --num-classes 10 --weights ckpt.safetensors --labels labels.txt --out my-model
    python -m hub push my-model my-org/my-model
    python -m hub convert-official vit_ti_cifar100_9857b21357.pth.tar --out vit-ti-cifar100
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from safetensors.torch import load_file

from hub.card import CardInfo
from hub.catalog import load_catalog
from hub.errors import HubError
from hub.folder import check_state_dict, save_pretrained
from hub.official import LAYOUTS, convert_release, read_release, write_converted
from hub.pretrained import from_pretrained, push_folder
from hub.registry import create_model, family_examples, is_model, list_models, model_family
from hub.units import UnitModel, count_parameters


def cmd_list(args: argparse.Namespace) -> None:
    names = list_models(args.pattern)
    examples = set(family_examples().values())
    by_family: dict[str, list[str]] = {}
    for name in names:
        by_family.setdefault(model_family(name), []).append(f"{name}*" if name in examples else name)
    print(f"architectures ({len(names)}; build with hub.create_model(name, preset='cifar'|'imagenet'); "
          f"* = the family's example variant):")
    for family, members in sorted(by_family.items()):
        print(f"  {family:9s} {' '.join(members)}")
    print("\npretrained short names (hub.from_pretrained(name)):")
    for entry in load_catalog().values():
        print(f"  {entry.name:24s} {entry.architecture:15s} {entry.availability}")


def describe(model: UnitModel) -> dict:
    kinds = Counter(info.kind.value for info in model.unit_infos())
    return {"parameters": count_parameters(model), "units": dict(kinds), "config": model.config.to_dict()}


def cmd_info(args: argparse.Namespace) -> None:
    if is_model(args.name):
        model = create_model(args.name, args.num_classes, args.preset)
        report = {"architecture": args.name, "family": model_family(args.name), **describe(model)}
    else:
        model = from_pretrained(args.name, revision=args.revision)
        report = {"name": args.name, "source": model.source, **describe(model)}
        card = Path(model.folder) / "README.md"
        if card.is_file():
            report["card"] = card.read_text().split("\n---", 1)[0].lstrip("-\n")
    if args.units:
        report["unit_list"] = [f"{i.index:3d} {i.name:14s} stage={i.stage} residual={i.residual}"
                               for i in model.unit_infos()]
    print(json.dumps(report, indent=2))


def cmd_save(args: argparse.Namespace) -> None:
    model = create_model(args.architecture, args.num_classes, args.preset)
    if args.weights:
        state = load_file(args.weights)
        check_state_dict(model, state)
        model.load_state_dict(state, strict=True)
    labels = Path(args.labels).read_text().split() if args.labels else None
    metrics = dict(_metric(m) for m in args.metric)
    card = CardInfo(description=args.description, dataset=args.dataset, reproduce=args.reproduce)
    folder = save_pretrained(model, args.out, metrics=metrics, card=card, label_names=labels)
    print(f"saved {args.architecture} to {folder}")


def _metric(text: str) -> tuple[str, float]:
    key, _, value = text.partition("=")
    try:
        return key, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--metric expects name=number, got {text!r}") from None


def cmd_push(args: argparse.Namespace) -> None:
    print(push_folder(args.folder, args.repo_id, private=args.private))


def cmd_convert_official(args: argparse.Namespace) -> None:
    release = read_release(args.file, expected_sha256=args.sha256)
    model = convert_release(release, args.arch, str(args.file))
    write_converted(model, args.out, args.name or args.out.name, args.url, release)
    print(f"converted {args.file} ({release.size:,} bytes, sha256 {release.sha256}) to {model.config.architecture} "
          f"in {args.out}; load it with hub.from_pretrained({str(args.out)!r})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hub", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="registered architectures and pretrained short names")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter on architecture names")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="config, parameter count, units and card of an architecture or a model")
    p.add_argument("name", help="architecture (resnet_50), short name, Hub repo id (org/name[@rev]) or folder")
    p.add_argument("--preset", default="cifar", choices=["cifar", "imagenet"], help="for architectures")
    p.add_argument("--num-classes", type=int, default=None, help="for architectures (default: the preset's)")
    p.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    p.add_argument("--units", action="store_true", help="also list every unit with its stage")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("save", help="write a model folder (config, safetensors, card) for an architecture")
    p.add_argument("architecture")
    p.add_argument("--out", required=True, help="folder to write")
    p.add_argument("--weights", help="a .safetensors state dict to load strictly (default: random init)")
    p.add_argument("--num-classes", type=int, default=None)
    p.add_argument("--preset", default="cifar", choices=["cifar", "imagenet"])
    p.add_argument("--labels", help="text file with one class name per line, in label order")
    p.add_argument("--dataset", default=None, help="Hub dataset id the metrics refer to (cifar10, cifar100, ...)")
    p.add_argument("--metric", action="append", default=[], help="name=value, repeatable (goes into the card)")
    p.add_argument("--description", default="")
    p.add_argument("--reproduce", default="", help="the command that produced the weights")
    p.set_defaults(func=cmd_save)

    p = sub.add_parser("push", help="upload a model folder to the Hub (checks that it loads first)")
    p.add_argument("folder")
    p.add_argument("repo_id", help="org/name")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=cmd_push)

    p = sub.add_parser("convert-official", help="convert a release file of the paper's authors to a model folder",
                       description="Read a release checkpoint of the paper (a pickle: only tensors and plain "
                                   "containers are accepted), map it strictly onto our architecture and write a model "
                                   "folder.")
    p.add_argument("file", type=Path, help="the .pth.tar release file (or one written the same way)")
    p.add_argument("--out", type=Path, required=True, help="model folder to write")
    p.add_argument("--arch", choices=sorted(LAYOUTS), default=None,
                   help="our architecture (default: from the file's name field)")
    p.add_argument("--sha256", default=None, help="refuse the file unless it has this sha256")
    p.add_argument("--url", default=None, help="where the file came from, for the model card")
    p.add_argument("--name", default=None, help="model name in the card (default: the --out folder name)")
    p.set_defaults(func=cmd_convert_official)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (HubError, KeyError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
