"""croissant.json: a Croissant 1.0 description of a snapshot's files (with sha256) and tables (with column docs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from schemas import table_spec
from schemas.columns import description

CONTEXT: dict[str, Any] = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "samplingRate": "cr:samplingRate",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


def _data_type(type_: pa.DataType) -> str:
    if pa.types.is_boolean(type_):
        return "sc:Boolean"
    if pa.types.is_integer(type_):
        return "sc:Integer"
    if pa.types.is_floating(type_):
        return "sc:Float"
    if pa.types.is_date(type_):
        return "sc:Date"
    if pa.types.is_timestamp(type_):
        return "sc:DateTime"
    return "sc:Text"


def _field(
    record_set: str, file_id: str, name: str, type_: pa.DataType, doc: str, path: str
) -> dict[str, Any]:
    field_id = f"{record_set}/{path}"
    out: dict[str, Any] = {"@type": "cr:Field", "@id": field_id, "name": name}
    if doc:
        out["description"] = doc
    inner = type_
    if pa.types.is_list(inner) or pa.types.is_large_list(inner):
        out["repeated"] = True
        inner = inner.value_type
    if pa.types.is_struct(inner):
        out["subField"] = [
            _field(record_set, file_id, child.name, child.type, "", f"{path}/{child.name}") for child in inner
        ]
    else:
        out["dataType"] = _data_type(inner)
    out["source"] = {"fileObject": {"@id": file_id}, "extract": {"column": path.split("/")[0]}}
    if "/" in path:
        out["source"]["transform"] = {"jsonPath": path.split("/", 1)[1].replace("/", ".")}
    return out


def render_croissant(manifest: Mapping[str, Any], card_description: str) -> dict[str, Any]:
    distribution = []
    record_sets = []
    for name, table in manifest["tables"].items():
        spec = table_spec(name)
        file_ids = []
        for f in table["files"]:
            file_id = f["path"]
            file_ids.append(file_id)
            distribution.append(
                {
                    "@type": "cr:FileObject",
                    "@id": file_id,
                    "name": file_id,
                    "contentUrl": f["path"],
                    "encodingFormat": "application/x-parquet",
                    "contentSize": f"{f['bytes']} B",
                    "sha256": f["sha256"],
                }
            )
        record_sets.append(
            {
                "@type": "cr:RecordSet",
                "@id": name,
                "name": name,
                "description": spec.description,
                "key": [{"@id": f"{name}/{k}"} for k in spec.primary_key],
                "field": [
                    _field(name, file_ids[0], f.name, f.type, description(f), f.name) for f in spec.schema
                ],
            }
        )
    version = manifest["version"].lstrip("v").split(".")
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "name": "research-commons",
        "description": card_description,
        "conformsTo": "http://mlcommons.org/croissant/1.0",
        "citeAs": "Research Commons: an open dataset of AI-safety research material with provenance, "
        f"snapshot {manifest['version']}",
        "license": "Mixed: every row states its own SPDX license in its `license` column.",
        "url": "https://huggingface.co/datasets",
        # Croissant versions are semver: the CalVer date as MAJOR.MINOR.PATCH (a same-day suffix is dropped).
        "version": f"{int(version[0])}.{int(version[1])}.{int(version[2])}",
        "datePublished": f"{version[0]}-{version[1]}-{version[2]}",
        "distribution": distribution,
        "recordSet": record_sets,
    }
