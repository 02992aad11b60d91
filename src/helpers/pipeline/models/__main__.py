"""``python -m helpers.pipeline.models``: write every schema from its model."""
from helpers.pipeline.models import write_schemas

for path in write_schemas():
    print(f"wrote {path}")
