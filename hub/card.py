"""Model cards: a ``README.md`` with Hub metadata (library, tags, datasets, model-index) and a readable body."""

from __future__ import annotations

from dataclasses import dataclass, field

from huggingface_hub import EvalResult, ModelCardData

from hub.config import ModelConfig, Normalisation, Parent

DATASET_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet-1k": "ImageNet-1k"}
CITATION = """@inproceedings{park2022how,
  title={How Do Vision Transformers Work?},
  author={Namuk Park and Songkuk Kim},
  booktitle={International Conference on Learning Representations},
  year={2022}
}"""


@dataclass
class CardInfo:
    """What a model card says beyond the config: provenance, training and how to reproduce it."""

    description: str = ""
    dataset: str | None = None
    """Hub dataset id the metrics were measured on, e.g. ``"cifar10"``."""
    split: str = "validation"
    training: str = ""
    """Recipe, data, seed, commit, epochs: free Markdown."""
    reproduce: str = ""
    """The exact command that produced the weights."""
    source: str = ""
    """Where weights this toolkit did not train come from, and what was checked: free Markdown."""
    license: str = "apache-2.0"
    tags: list[str] = field(default_factory=list)


def describe_normalisation(normalisation: Normalisation) -> str:
    """Where the mean/std come from, in words: published, computed from the training images, or inherited."""
    if normalisation.origin == "computed":
        cap = f" (at most {normalisation.cap:,})" if normalisation.cap else ""
        return f"mean/std computed from {normalisation.images:,} training images{cap}"
    if normalisation.origin == "parent":
        return f"inherited from parent `{normalisation.name}`"
    return f"{DATASET_NAMES.get(normalisation.name, normalisation.name)} published statistics"


def describe_parent(parent: Parent) -> str:
    sha = f" (weights sha256 `{parent.weights_sha256}`)" if parent.weights_sha256 else ""
    return f"fine-tuned from `{parent.source}`{sha}"


def render_card(name: str, config: ModelConfig, num_params: int, card: CardInfo | None = None,
                metrics: dict[str, float] | None = None) -> str:
    card = card or CardInfo()
    metrics = metrics or {}
    dataset_name = DATASET_NAMES.get(card.dataset or "", card.dataset or "")
    eval_results = [
        EvalResult(task_type="image-classification", dataset_type=card.dataset, dataset_name=dataset_name,
                   dataset_split=card.split, metric_type=key, metric_value=value)
        for key, value in metrics.items()
    ] if card.dataset else None
    data = ModelCardData(
        library_name=config.library, license=card.license, pipeline_tag="image-classification",
        tags=["image-classification", "how-do-vits-work", config.architecture, *card.tags],
        datasets=[card.dataset] if card.dataset else None, model_name=name, eval_results=eval_results,
        base_model=config.parent.base_model if config.parent else None,
        base_model_relation="finetune" if config.parent else None,
    )
    lines = [f"---\n{data.to_yaml()}\n---", f"# {name}", ""]
    if card.description:
        lines += [card.description, ""]
    lines += [
        "## Model", "",
        "| field | value |", "|---|---|",
        f"| architecture | `{config.architecture}` (preset `{config.preset}`) |",
        f"| parameters | {num_params:,} |",
        f"| classes | {config.num_classes} |",
        f"| input | {config.input_size[1]}x{config.input_size[2]} RGB, {config.interpolation} resize, "
        f"mean {list(config.mean)}, std {list(config.std)} |",
    ]
    if config.normalisation:
        lines.append(f"| normalisation | {describe_normalisation(config.normalisation)} |")
    if config.parent:
        lines.append(f"| parent | {describe_parent(config.parent)} |")
    lines.append("")
    if metrics:
        split = f" ({dataset_name} {card.split})" if card.dataset else ""
        lines += [f"## Measured{split}", "", "| metric | value |", "|---|---|"]
        lines += [f"| {key} | {value:.4g} |" for key, value in metrics.items()]
        lines.append("")
    if card.source:
        lines += ["## Source", "", card.source, ""]
    if card.training:
        lines += ["## Training", "", card.training, ""]
    if card.reproduce:
        lines += ["## Reproduce", "", "```bash", card.reproduce, "```", ""]
    lines += [
        "## Use", "", "```python", "from hub import from_pretrained", "",
        f'model = from_pretrained("{name}")', "```", "",
        "## Citation", "", "```bibtex", CITATION, "```", "",
    ]
    return "\n".join(lines)
