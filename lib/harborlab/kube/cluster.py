"""The cluster: the API verbs (get, list, create, update, patch, delete and the subresources) over
the store, with defaulting, validation, admission, dryRun and garbage-collection semantics.

HTTP lives in server.py; controllers call these same verbs (with ``internal=True`` to skip the
checks a user write needs), so every change goes through one path.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import time
from typing import Callable

from . import defaults, patch as patches, validation
from .events import EventRecorder
from .profiles import Profile
from .resources import Resource, by_key
from .selectors import parse_fields, parse_labels
from .status import details as status_details
from .status import already_exists, forbidden, bad_request, conflict, gone, invalid, not_found, cause
from .store import Store, rfc3339

NAMESPACES = by_key("/namespaces")
_GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"
PROTECTED_NAMESPACES = {"default", "kube-system", "kube-public"}
RETURNS_OBJECT_ON_DELETE = {"Pod", "PersistentVolume", "PersistentVolumeClaim", "Service", "Namespace",
                            "CSIDriver", "StorageClass"}

# Admission: kind -> fn(cluster, old, new, dry_run) that may change ``new`` or raise ApiError.
Admission = Callable[["Cluster", "dict | None", dict, bool], None]


def _encode_continue(rv: int, key: tuple[str, str]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"rv": rv, "start": list(key)}).encode()).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(data["rv"]), (str(data["start"][0]), str(data["start"][1]))
    except (ValueError, KeyError, IndexError, TypeError):
        raise bad_request("continue key is not valid: incorrect encoded start resourceVersion") from None


class Cluster:
    def __init__(self, profile: Profile, store: Store | None = None, clock: Callable[[], float] = time.time,
                 pod_ready_delay: float = 0.5):
        self.profile = profile
        self.clock = clock
        self.store = store or Store(clock=clock)
        self.pod_ready_delay = pod_ready_delay
        self.recorder = EventRecorder(self)
        self.admission: dict[str, list[Admission]] = {}
        self.agents: dict = {}          # node name -> NodeAgent (nodes.py)
        self.default_agent = None
        self.touched_nodes: set[str] = set()
        self.kick: Callable[[str], None] = lambda controller: None   # set by the runtime

    # --- helpers -----------------------------------------------------------------------------
    def now(self) -> str:
        return rfc3339(self.clock())

    def agent_for(self, node_name: str | None):
        return self.agents.get(node_name or "", self.default_agent)

    def _get_or_404(self, res: Resource, ns: str, name: str) -> dict:
        obj = self.store.get(res.key, ns if res.namespaced else "", name)
        if obj is None:
            raise not_found(res, name)
        return obj

    def _prepare(self, res: Resource, ns: str, body: object, name: str | None = None) -> dict:
        if not isinstance(body, dict):
            raise bad_request("the body of the request must be a JSON or YAML object")
        obj = copy.deepcopy(body)
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise invalid(res, "", [cause("metadata", "Invalid value: metadata must be an object")])
        obj.setdefault("apiVersion", res.group_version)
        obj.setdefault("kind", res.kind)
        if (obj["apiVersion"], obj["kind"]) != (res.group_version, res.kind):
            raise bad_request(f"the API version in the data ({obj['apiVersion']}) does not match the "
                              f"expected API version ({res.group_version})" if obj["apiVersion"] != res.group_version
                              else f"the kind in the data ({obj['kind']}) does not match {res.kind}")
        if res.namespaced:
            if meta.get("namespace") not in (None, "", ns):
                raise bad_request("the namespace of the provided object does not match the namespace sent "
                                  "on the request")
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if name is not None and meta.get("name") not in (None, name):
            raise bad_request(f"the name of the object ({meta.get('name')}) does not match the name on "
                              f"the URL ({name})")
        if name is not None:
            meta["name"] = name
        return obj

    def _admit_and_validate(self, res: Resource, old: dict | None, obj: dict, dry_run: bool,
                            strict: bool, internal: bool) -> None:
        defaults.apply_defaults(obj)
        if not internal:
            validation.check(obj, res, self.profile.version, old, strict)
        for admit in self.admission.get(res.kind, []):
            admit(self, old, obj, dry_run)

    # --- verbs -------------------------------------------------------------------------------
    def get(self, res: Resource, ns: str, name: str) -> dict:
        return self._get_or_404(res, ns, name)

    def list(self, res: Resource, ns: str | None, label_selector: str | None = None,
             field_selector: str | None = None, limit: int | None = None,
             continue_token: str | None = None) -> dict:
        labels = parse_labels(label_selector)
        fields = parse_fields(field_selector, res.fields, res.kind)
        items = self.store.list(res.key, ns or None, labels, fields)
        rv = self.store.rv
        meta: dict = {"resourceVersion": str(rv)}
        if continue_token:
            token_rv, start = _decode_continue(continue_token)
            if token_rv < self.store.oldest_rv():
                raise gone("The provided continue parameter is too old to display a consistent list "
                           "result. You can start a new list without the continue parameter.")
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start]
            rv = token_rv
            meta["resourceVersion"] = str(rv)
        if limit and limit > 0 and len(items) > limit:
            last = items[limit - 1]["metadata"]
            meta["continue"] = _encode_continue(rv, (last.get("namespace", ""), last["name"]))
            meta["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        return {"kind": res.list_kind, "apiVersion": res.group_version, "metadata": meta, "items": items}

    def create(self, res: Resource, ns: str, body: object, dry_run: bool = False,
               strict: bool = False, internal: bool = False, manager: str | None = None) -> dict:
        obj = self._prepare(res, ns, body)
        meta = obj["metadata"]
        for owned in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp", "generation"):
            meta.pop(owned, None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(random.choices(_GEN_CHARS, k=5))
            else:
                raise invalid(res, "", [cause("metadata.name", "Required value: name or generateName is "
                                              "required", "FieldValueRequired")])
        if res.namespaced and self.store.get(NAMESPACES.key, "", ns) is None:
            raise not_found(NAMESPACES, ns)
        if self.store.get(res.key, meta.get("namespace", ""), meta["name"]) is not None:
            raise already_exists(res, meta["name"])
        if manager and not internal:
            meta["managedFields"] = [{"manager": manager, "operation": "Update",
                                      "apiVersion": res.group_version, "time": self.now(),
                                      "fieldsType": "FieldsV1",
                                      "fieldsV1": patches.to_fields_v1(patches.fieldset(body))}]
        if "status" in res.subresources and not internal:
            obj["status"] = {}     # a user's create cannot set status; the real server resets it
        self._admit_and_validate(res, None, obj, dry_run, strict, internal)
        if dry_run:
            meta["uid"] = "00000000-0000-0000-0000-000000000000"
            meta["creationTimestamp"] = self.now()
            return obj
        return self.store.create(res.key, obj)

    def update(self, res: Resource, ns: str, name: str, body: object, subresource: str | None = None,
               dry_run: bool = False, strict: bool = False, internal: bool = False) -> dict:
        old = self._get_or_404(res, ns, name)
        obj = self._prepare(res, ns, body, name)
        want_rv = obj["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(res, name)
        return self._replace(res, old, obj, subresource, dry_run, strict, internal)

    def _replace(self, res: Resource, old: dict, obj: dict, subresource: str | None,
                 dry_run: bool, strict: bool, internal: bool) -> dict:
        meta = obj["metadata"]
        for owned in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if owned in old["metadata"]:
                meta[owned] = old["metadata"][owned]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        if subresource == "status":
            obj = {**copy.deepcopy(old), "status": obj.get("status", {})}
        elif "status" in res.subresources and "status" in old:
            obj["status"] = copy.deepcopy(old["status"])   # status changes only via /status
        self._admit_and_validate(res, old, obj, dry_run, strict, internal)
        if dry_run:
            return obj
        return self.store.update(res.key, obj)

    def patch(self, res: Resource, ns: str, name: str, patch_type: str, body: object,
              subresource: str | None = None, dry_run: bool = False, manager: str | None = None,
              force: bool = False, strict: bool = False) -> tuple[dict, bool]:
        """Apply a patch; returns (object, created) — only server-side apply may create."""
        key_ns = ns if res.namespaced else ""
        old = self.store.get(res.key, key_ns, name)
        if patch_type == "apply":
            if not manager:
                raise bad_request("PATCH, application/apply-patch+yaml requires fieldManager to be set")
            applied = self._prepare(res, ns, body, name)
            if old is None:
                merged = patches.apply(None, applied, manager, force, self.now())
                return self.create(res, ns, merged, dry_run, strict), True
            merged = patches.apply(old, applied, manager, force, self.now())
        else:
            if old is None:
                raise not_found(res, name)
            if patch_type == "json":
                merged = patches.json_patch(old, body)
            elif patch_type == "merge":
                merged = patches.merge_patch(old, body)
            else:
                merged = patches.strategic_merge(old, body)
        if not isinstance(merged, dict):
            raise bad_request("the patch did not produce an object")
        merged = self._prepare(res, ns, merged, name)
        want_rv = merged["metadata"].get("resourceVersion")
        if want_rv and want_rv != old["metadata"]["resourceVersion"]:
            raise conflict(res, name)
        return self._replace(res, old, merged, subresource, dry_run, strict, False), False

    def delete(self, res: Resource, ns: str, name: str, propagation: str | None = None,
               dry_run: bool = False, preconditions: dict | None = None,
               grace_period: int | None = None) -> dict:
        obj = self._get_or_404(res, ns, name)
        if res.kind == "Namespace" and name in PROTECTED_NAMESPACES:
            raise forbidden(f'namespaces "{name}" is forbidden: this namespace may not be deleted')
        if preconditions:
            if preconditions.get("uid") and preconditions["uid"] != obj["metadata"].get("uid"):
                raise conflict(res, name)
            if preconditions.get("resourceVersion") and \
                    preconditions["resourceVersion"] != obj["metadata"].get("resourceVersion"):
                raise conflict(res, name)
        grace = None
        if res.kind == "Pod":
            grace = self._pod_grace(obj, grace_period)
            if grace > 0 or obj["metadata"].get("deletionTimestamp"):
                return self._delete_gracefully(res, obj, grace, dry_run)
        if dry_run:
            return self._deleted_answer(res, obj, grace)
        uid = obj["metadata"]["uid"]
        if propagation == "Orphan":
            self._orphan(uid)
        elif propagation == "Foreground":
            for dep_res, dep in self.dependents(uid):
                self.delete(dep_res, dep["metadata"].get("namespace", ""), dep["metadata"]["name"],
                            "Foreground")
        if res.kind == "Namespace":
            for other in list(self.store.objects):
                if by_key(other).namespaced:
                    for key in [k for k in self.store.keys(other) if k[0] == name]:
                        self.store.delete(other, *key)
        deleted = self.store.delete(res.key, obj["metadata"].get("namespace", ""), name)
        return self._deleted_answer(res, deleted, grace)

    @staticmethod
    def _pod_grace(pod: dict, given: int | None) -> int:
        """The grace period as the pod strategy's CheckGracefulDelete decides it: the request's, else
        the pod's terminationGracePeriodSeconds; 0 for a pod never scheduled or already finished."""
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        grace = given if given is not None else spec.get("terminationGracePeriodSeconds", 30)
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        return max(int(grace), 0)

    def _delete_gracefully(self, res: Resource, pod: dict, grace: int, dry_run: bool) -> dict:
        """Mark the pod (deletionTimestamp = now + grace, a MODIFIED event) and leave the rest to
        the kubelet's part (controllers/pods.py): stop containers, Ready=False, then remove it. A
        second delete may only shorten the period; grace 0 on a terminating pod removes it now."""
        meta = pod["metadata"]
        current = meta.get("deletionGracePeriodSeconds")
        if current is not None and grace >= current:
            return pod
        if current is not None and grace == 0 and not dry_run:
            deleted = self.store.delete(res.key, meta["namespace"], meta["name"])
            return self._deleted_answer(res, deleted, 0)
        marked = copy.deepcopy(pod)
        marked["metadata"]["deletionTimestamp"] = rfc3339(self.clock() + grace)
        marked["metadata"]["deletionGracePeriodSeconds"] = grace
        if dry_run:
            return marked
        self.kick("pods")
        return self.store.update(res.key, marked)

    def _deleted_answer(self, res: Resource, obj: dict, grace: int | None = None) -> dict:
        # What the real server answers: kinds with graceful deletion or protection finalizers
        # return the object (marked for deletion); the rest return a Success Status.
        if res.kind in RETURNS_OBJECT_ON_DELETE:
            meta = dict(obj["metadata"], deletionTimestamp=self.now())
            if res.kind == "Pod":
                meta["deletionGracePeriodSeconds"] = grace if grace is not None else \
                    obj.get("spec", {}).get("terminationGracePeriodSeconds", 30)
            out = {**obj, "metadata": meta}
            if res.kind == "Namespace":
                out["status"] = {"phase": "Terminating"}
            return out
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": status_details(obj["metadata"]["name"], res.group, res.plural, obj["metadata"].get("uid"))}

    # --- owners ------------------------------------------------------------------------------
    def dependents(self, uid: str) -> list[tuple[Resource, dict]]:
        out = []
        for rkey, table in self.store.objects.items():
            for obj in table.values():
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                    out.append((by_key(rkey), obj))
        return out

    def _orphan(self, uid: str) -> None:
        for res, dep in self.dependents(uid):
            fixed = copy.deepcopy(dep)
            fixed["metadata"]["ownerReferences"] = [r for r in dep["metadata"]["ownerReferences"]
                                                    if r.get("uid") != uid]
            if not fixed["metadata"]["ownerReferences"]:
                del fixed["metadata"]["ownerReferences"]
            self.store.update(res.key, fixed)

    # --- shortcuts for controllers -----------------------------------------------------------
    def put(self, res: Resource, obj: dict) -> dict:
        """Create or replace a whole object (status included) as a controller: defaults and
        admission run, user validation does not; an unchanged object is not written."""
        meta = obj["metadata"]
        ns = meta.get("namespace", "") if res.namespaced else ""
        old = self.store.get(res.key, ns, meta["name"])
        if old is None:
            return self.create(res, ns, obj, internal=True)
        obj = copy.deepcopy(obj)
        defaults.apply_defaults(obj)
        for admit in self.admission.get(res.kind, []):
            admit(self, old, obj, False)
        obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return self.store.update(res.key, obj)

    def set_pod_status(self, pod: dict, *, ready: bool, pod_ip: str, phase: str = "Running",
                       reason: str | None = None, message: str | None = None) -> dict | None:
        """For node agents that own a pod: report it started (ready or not) with its IP, or
        finished (``phase`` "Failed"/"Succeeded" with reason and message: its containers stopped,
        the pod no longer ready). None if the pod is gone."""
        from .controllers.pods import running_status, terminal_status
        pods, nodes = by_key("/pods"), by_key("/nodes")
        current = self.store.get(pods.key, pod["metadata"]["namespace"], pod["metadata"]["name"])
        if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"]:
            return None
        node = self.store.get(nodes.key, "", current["spec"].get("nodeName") or "")
        if phase == "Running":
            status = running_status(current, node, pod_ip, ready, self.now(), self.profile.container_runtime)
        else:
            status = terminal_status(current, phase, reason, message, self.now())
        return self.put(pods, {**copy.deepcopy(current), "status": status})

    def touch_node(self, name: str) -> None:
        """A node agent's report changed: have the node controller ask it again now."""
        self.touched_nodes.add(name)
        self.kick("nodes")

    def remove(self, res: Resource, obj: dict) -> None:
        """Delete as a controller; an object already gone is fine."""
        meta = obj["metadata"]
        if self.store.get(res.key, meta.get("namespace", ""), meta["name"]) is not None:
            self.store.delete(res.key, meta.get("namespace", ""), meta["name"])
