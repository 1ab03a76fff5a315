"""Console options: setting a validated value, and seeding the documented options."""

from licensing.models import ConsoleOption
from licensing.options import DOCUMENTED_OPTIONS
from licensing.validators import option_value_error


def console_option_set(*, option: ConsoleOption, value: str) -> ConsoleOption:
    problem = option_value_error(option, value)
    if problem:
        raise ValueError(problem)
    option.value = value
    option.save()
    return option


def console_options_seed() -> list[str]:
    """Create the documented options that are missing, with their defaults. Never overwrites."""
    existing = set(ConsoleOption.objects.values_list("name", flat=True))
    created = []
    for spec in DOCUMENTED_OPTIONS:
        if spec.name in existing:
            continue
        ConsoleOption.objects.create(
            name=spec.name,
            type=spec.type,
            value=spec.default,
            default=spec.default,
            choices=spec.choices,
            masked=spec.masked,
            description=spec.description,
        )
        created.append(spec.name)
    return created
