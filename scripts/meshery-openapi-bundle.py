#!/usr/bin/env python3
"""Bundles Meshery's published connection, environment and credential OpenAPI files into one
document for schemathesis (scripts/fuzz-meshery): every $ref inlined, only the operations
Switchboard implements, and Switchboard's deliberate differences applied, each printed with
its reason. The list of differences is the one in README.md ("Meshery compatibility").

Usage: meshery-openapi-bundle.py SCHEMAS_DIR OUTPUT_JSON
SCHEMAS_DIR is the `schemas/constructs` folder (Tests/Fixtures/meshery-schemas/...).
"""
import copy
import json
import os
import sys

import yaml

ENTRY_FILES = ["v1beta3/connection/api.yml", "v1beta3/environment/api.yml", "v1beta2/credential/api.yml"]

# Meshery's operations Switchboard implements; the others (registration state machine, actions,
# the registry, Meshery servers, Kubernetes contexts) are not part of it.
IMPLEMENTED = {
    "getConnections", "registerConnection", "getConnectionById", "updateConnection", "deleteConnection",
    "addConnectionToEnvironment", "removeConnectionFromEnvironment",
    "getEnvironments", "createEnvironment", "getEnvironmentById", "updateEnvironment", "deleteEnvironment",
    "getEnvironmentConnections",
    "getUserCredentials", "saveUserCredential", "updateUserCredential", "deleteUserCredential", "getCredentialById",
}

PROBLEM = {"application/problem+json": {"schema": {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                   "status": {"type": "integer"}, "detail": {"type": "string"}}}}}

_documents = {}


def load(path):
    if path not in _documents:
        with open(path) as handle:
            _documents[path] = yaml.safe_load(handle)
    return _documents[path]


def pointer(document, fragment):
    node = document
    for part in [p for p in fragment.lstrip("/").split("/") if p]:
        key = part.replace("~1", "/").replace("~0", "~")
        # YAML reads unquoted status codes (`401:`) as numbers.
        node = node[key] if key in node else node[int(key)]
    return node


def inline(node, path, seen=()):
    """`node` with every $ref (relative to the file at `path`) replaced by what it names. Members
    beside a $ref override the named schema's (Meshery's files put `nullable` and descriptions
    there). A reference back into itself becomes an open schema."""
    if isinstance(node, list):
        return [inline(item, path, seen) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target, _, fragment = node["$ref"].partition("#")
        file = os.path.normpath(os.path.join(os.path.dirname(path), target)) if target else path
        key = (file, fragment)
        if key in seen:
            resolved = {}
        else:
            resolved = inline(copy.deepcopy(pointer(load(file), fragment)), file, seen + (key,))
        siblings = {k: inline(v, path, seen) for k, v in node.items() if k != "$ref"}
        if isinstance(resolved, dict):
            return {**resolved, **siblings}
        return resolved
    return {str(k): inline(v, path, seen) for k, v in node.items()}


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                yield path, method, operation


# Deliberate differences: (reason, change). Each change edits the bundled document in place.
def differences():
    def each_operation(doc):
        return list(operations(doc))

    def operation(doc, operation_id):
        return next(op for _, _, op in operations(doc) if op["operationId"] == operation_id)

    def schemas_titled(doc, predicate):
        found = []

        def walk(node):
            if isinstance(node, dict):
                if predicate(node):
                    found.append(node)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
        walk(doc)
        return found

    def is_connection(node):
        props = node.get("properties", {})
        return node.get("type") == "object" and {"transitionMap", "subType", "kind", "status"} <= props.keys() \
            and "schemaVersion" in props

    def is_environment(node):
        props = node.get("properties", {})
        return node.get("type") == "object" and "organizationId" in props and "schemaVersion" in props

    def is_credential(node):
        props = node.get("properties", {})
        return node.get("type") == "object" and node.get("additionalProperties") is False \
            and {"secret", "userId", "type"} <= props.keys()

    def problem_errors(doc):
        for _, _, op in each_operation(doc):
            for status, response in op["responses"].items():
                if str(status).startswith(("4", "5")):
                    response["content"] = copy.deepcopy(PROBLEM)

    def more_statuses(doc):
        for _, _, op in each_operation(doc):
            for status, why in [("400", "bad input"), ("403", "read-only share"), ("404", "not found"),
                                ("409", "lifecycle refusal, duplicate target, credential in use"),
                                ("422", "the target did not answer its check"), ("429", "busy")]:
                op["responses"].setdefault(status, {"description": why})
                op["responses"][status]["content"] = copy.deepcopy(PROBLEM)

    def connection_extensions(doc):
        for schema in schemas_titled(doc, is_connection):
            schema["properties"].update({
                "version": {"type": "integer", "minimum": 1},
                "health": {"type": "object"},
                "fingerprint": {"type": "string", "nullable": True},
                "lease": {"type": "object"},
            })

    def environment_nullables(doc):
        for schema in schemas_titled(doc, is_environment):
            props = schema["properties"]
            props["description"]["nullable"] = True
            props["owner"]["nullable"] = True
            props["deletedAt"]["nullable"] = True
            props["name"]["maxLength"] = 255
            props["ownerName"] = {"type": "string"}

    def credential_shape(doc):
        for schema in schemas_titled(doc, is_credential):
            props = schema["properties"]
            del props["secret"]
            props["secretKeys"] = {"type": "array", "items": {"type": "string"}}
            props["keyId"] = {"type": "string"}
            props["userId"]["nullable"] = True
            props["deletedAt"]["nullable"] = True

    def environment_answers(doc):
        environment = next(iter(schemas_titled(doc, is_environment)))
        for operation_id in ["getEnvironmentById", "updateEnvironment"]:
            operation(doc, operation_id)["responses"]["200"]["content"] = {
                "application/json": {"schema": copy.deepcopy(environment)}}

    def no_organizations(doc):
        for _, _, op in each_operation(doc):
            op["parameters"] = [p for p in op.get("parameters", []) if p.get("name") != "orgId"]
        for operation_id in ["createEnvironment", "updateEnvironment"]:
            body = operation(doc, operation_id)["requestBody"]["content"]["application/json"]["schema"]
            body["properties"].pop("organizationId", None)
            body["required"] = [r for r in body.get("required", []) if r != "organizationId"]
        for operation_id in ["saveUserCredential", "updateUserCredential"]:
            body = operation(doc, operation_id)["requestBody"]["content"]["application/json"]["schema"]
            body["properties"].pop("userId", None)

    def ignored_parameters(doc):
        ignored = {"getConnections": {"filter"}, "getEnvironmentConnections": {"filter", "order"},
                   "getEnvironments": {"order"}, "getUserCredentials": {"order"}}
        for operation_id, names in ignored.items():
            op = operation(doc, operation_id)
            op["parameters"] = [p for p in op.get("parameters", []) if p.get("name") not in names]
        body = operation(doc, "registerConnection")["requestBody"]["content"]["application/json"]["schema"]
        body["properties"].pop("styles", None)
        body = operation(doc, "updateConnection")["requestBody"]["content"]["application/json"]["schema"]
        body["properties"].pop("styles", None)

    def clamped_page_sizes(doc):
        for _, _, op in each_operation(doc):
            for parameter in op.get("parameters", []):
                if parameter.get("name") in ("pageSize", "pagesize"):
                    parameter["schema"].pop("minimum", None)
                    parameter["schema"] = {"anyOf": [parameter["schema"], {"type": "string", "enum": [""]}]}
                if parameter.get("name") == "page":
                    parameter["schema"]["maximum"] = 2147483647

    def empty_filters(doc):
        for parameter in operation(doc, "getConnections").get("parameters", []):
            if parameter.get("name") == "status":
                parameter["schema"]["items"]["enum"].append("")

    def body(doc, operation_id):
        return operation(doc, operation_id)["requestBody"]["content"]["application/json"]["schema"]

    def lenient_bodies(doc):
        for operation_id in ["registerConnection", "updateConnection", "createEnvironment", "updateEnvironment",
                             "saveUserCredential", "updateUserCredential"]:
            for member in body(doc, operation_id).get("properties", {}).values():
                member["nullable"] = True
        body(doc, "registerConnection")["required"] = ["name", "kind"]
        for operation_id in ["updateConnection", "updateEnvironment", "updateUserCredential"]:
            body(doc, operation_id).pop("required", None)

    def reregistration(doc):
        responses = operation(doc, "registerConnection")["responses"]
        created = next(response for status, response in responses.items() if str(status) == "201")
        responses["200"] = copy.deepcopy(created)
        responses["200"]["description"] = "A server registered again: its connection, refreshed"

    return [
        ("Errors are RFC 9457 application/problem+json, not text/plain.", problem_errors),
        ("Statuses Meshery's files leave out: 409 for a refused lifecycle move, a duplicate target or a "
         "credential in use, 422 when a verified move's target does not answer, 400/403/404/429 everywhere.",
         more_statuses),
        ("A connection carries three extensions: version, health and fingerprint (and a registered server, kind meshery, its lease).", connection_extensions),
        ("An environment's description and owner are null when unset; names may be 255 characters "
         "(Meshery: 100); it carries its owner's user name, ownerName.", environment_nullables),
        ("A credential's secret is write-only: answers name its keys (secretKeys) and sealing key (keyId); "
         "userId is null for credentials an admin token made; deletedAt is null.", credential_shape),
        ("GET and PUT /api/environments/{id} answer the Environment (Meshery's file says EnvironmentPage).",
         environment_answers),
        ("No organizations: orgId is ignored, organizationId and a credential's userId are accepted and ignored "
         "(every environment shows one default organizationId; the caller owns what they create).",
         no_organizations),
        ("Parameters accepted and ignored: filter on connection lists, order on environment and credential "
         "lists, a connection's styles.", ignored_parameters),
        ("Page sizes that are empty or below 1 mean the default and above 100 are clamped, as Meshery's server "
         "reads them; pages past 2147483647 answer 400.", clamped_page_sizes),
        ("An empty filter is no filter: Meshery's UI sends status=&kind= when nothing is chosen.", empty_filters),
        ("Request bodies: a member that is null counts as left out; a create needs only name and kind "
         "(type, subType and status default to the kind's); PUT changes only what it names (Meshery's UI "
         "sends just status and metadata).", lenient_bodies),
        ("A server (kind meshery) registering again with the same server_id, or address, answers 200 with "
         "its connection refreshed (status kept) instead of a second connection.", reregistration),
    ]


def main():
    schemas, output = sys.argv[1], sys.argv[2]
    bundle = {"openapi": "3.0.3", "info": {"title": "Meshery connections, environments and credentials "
                                                    "(bundled for Switchboard)", "version": "meshery"},
              "security": [{"jwt": []}],
              "components": {"securitySchemes": {"jwt": {"type": "http", "scheme": "bearer"}}},
              "paths": {}}
    for entry in ENTRY_FILES:
        path = os.path.join(schemas, entry)
        document = load(path)
        for route, item in document["paths"].items():
            for method, operation in item.items():
                if not isinstance(operation, dict) or operation.get("operationId") not in IMPLEMENTED:
                    continue
                resolved = inline(copy.deepcopy(operation), path)
                resolved.pop("x-internal", None)
                bundle["paths"].setdefault(route, {})[method] = resolved
    found = {op["operationId"] for _, _, op in operations(bundle)}
    if found != IMPLEMENTED:
        sys.exit(f"meshery-openapi-bundle: operations missing from Meshery's files: {sorted(IMPLEMENTED - found)}")
    for reason, change in differences():
        change(bundle)
        print(f"  difference: {reason}")
    with open(output, "w") as handle:
        json.dump(bundle, handle, indent=1)


if __name__ == "__main__":
    main()
