#!/usr/bin/env python3
"""Validates result documents against docs/result.schema.json (JSON Schema draft 2020-12).

    check_result_schema.py SCHEMA FILE...     each FILE a result document, or JSON lines (one per line)

Prints one line per problem and exits 1 when any document fails, 0 when all pass. Needs the
`jsonschema` package (.venv-tools has it: scripts/requirements-tools.txt).
"""
import json
import sys

import jsonschema


def documents(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        yield path, json.loads(text)
    except json.JSONDecodeError:
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield f"{path}:{number}", json.loads(line)


def main(arguments):
    if len(arguments) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    with open(arguments[0], encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    checked = failed = 0
    for path in arguments[1:]:
        for name, document in documents(path):
            checked += 1
            errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
            if errors:
                failed += 1
                for error in errors:
                    location = "/".join(str(p) for p in error.absolute_path) or "(document)"
                    print(f"{name}: {location}: {error.message[:300]}")
    print(f"checked {checked} documents, {failed} invalid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
