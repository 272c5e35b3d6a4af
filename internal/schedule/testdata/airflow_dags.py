"""Reads an Airflow DAG file without Airflow: prints, as JSON, what its syntax
tree says (module constants, functions, and for each `with DAG(...)` block the
DAG's arguments, its tasks and their dependencies).

Used by export_test.go; standard library only.
"""

import ast
import datetime
import json
import re
import shlex
import sys

JINJA = re.compile(r"\{\{.*?\}\}")


def value(node):
    """A literal as itself; timedelta(...) as seconds; a name as {"name": ...};
    another call as {"call", "args", "kwargs"}."""
    if isinstance(node, ast.Call):
        func = ast.unparse(node.func)
        args = [value(a) for a in node.args]
        kwargs = {k.arg: value(k.value) for k in node.keywords}
        if func == "datetime.timedelta":
            seconds = datetime.timedelta(*args, **kwargs).total_seconds()
            return {"seconds": int(seconds) if seconds.is_integer() else seconds}
        return {"call": func, "args": args, "kwargs": kwargs}
    if isinstance(node, (ast.Name, ast.Attribute)):
        return {"name": ast.unparse(node)}
    return ast.literal_eval(node)


def chain(node, names):
    """The task variables of a >> chain, left to right."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
        return chain(node.left, names) + chain(node.right, names)
    if isinstance(node, ast.Name) and node.id in names:
        return [names[node.id]]
    raise SystemExit("line %d: not a chain of tasks: %s" % (node.lineno, ast.unparse(node)))


def dag(node):
    call = node.items[0].context_expr
    out = {k.arg: value(k.value) for k in call.keywords}
    out["var"] = node.items[0].optional_vars.id
    out["tasks"], out["edges"] = [], []
    names = {}
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call):
            task = {k.arg: value(k.value) for k in stmt.value.keywords}
            task["operator"] = ast.unparse(stmt.value.func)
            cmd = task.get("bash_command")
            if isinstance(cmd, str):
                # Jinja is rendered before bash runs: split around it.
                task["jinja"] = JINJA.findall(cmd)
                task["argv"] = shlex.split(JINJA.sub("JINJA", cmd))
            names[stmt.targets[0].id] = task["task_id"]
            out["tasks"].append(task)
        elif isinstance(stmt, ast.Expr):
            ids = chain(stmt.value, names)
            out["edges"] += [[a, b] for a, b in zip(ids, ids[1:])]
        else:
            raise SystemExit("line %d: unexpected statement in a DAG: %s" % (stmt.lineno, ast.unparse(stmt)))
    return out


def main(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = {"constants": {}, "functions": [], "imports": [], "dags": []}
    for node in tree.body:
        if isinstance(node, ast.With):
            call = node.items[0].context_expr
            if isinstance(call, ast.Call) and ast.unparse(call.func) == "DAG":
                out["dags"].append(dag(node))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out["constants"][node.targets[0].id] = value(node.value)
            except ValueError:
                pass
        elif isinstance(node, ast.FunctionDef):
            out["functions"].append(node.name)
        elif isinstance(node, ast.ImportFrom):
            out["imports"] += ["%s.%s" % (node.module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out["imports"] += [a.name for a in node.names]
    json.dump(out, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main(sys.argv[1])
