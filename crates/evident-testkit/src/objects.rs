//! The objects generator: realistic cluster objects, for tests and benchmarks that must not
//! need a cluster. Pods shaped like those a v1.36 API server returns for a Deployment's
//! replicas (labels, owner references, `managedFields`, containers with resources, env and
//! volume mounts, tolerations, status conditions and container statuses), GPU Nodes and
//! Events, and [`SyntheticCluster`], an endless stream of their changes.
//!
//! It makes objects only: the caller decides where they go (usually a
//! `evident_recorder::ChangeStore` under test). Whole run directories come from
//! [`crate::runs`] instead.
//!
//! Everything is deterministic: the same seed gives the same sequence of changes, so a
//! test can regenerate what a crashed writer appended and compare.

use evident_core::{Kind, Op};
use serde_json::{Value, json};

const BASE_TIME_S: i64 = 1_781_451_591; // 2026-06-14T15:39:51Z
const POOLS: [(&str, u32); 3] = [("a100", 8), ("h100", 8), ("l40s", 4)];

/// A deterministic xorshift generator (no external crate, stable across versions).
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A value in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

/// Where a pod is in its life; each step is one MODIFIED change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodStage {
    /// Just created, not yet seen by the scheduler.
    Created,
    /// The scheduler found no node: `PodScheduled=False`, `Unschedulable`.
    Unschedulable,
    /// Bound to a node; containers not started.
    Scheduled,
    /// Containers running, not yet ready.
    Starting,
    /// Running and Ready.
    Ready,
    /// Being deleted (deletionTimestamp set).
    Terminating,
}

impl PodStage {
    fn next(self, schedulable: bool) -> Option<PodStage> {
        match self {
            PodStage::Created if schedulable => Some(PodStage::Scheduled),
            PodStage::Created => Some(PodStage::Unschedulable),
            PodStage::Unschedulable if schedulable => Some(PodStage::Scheduled),
            PodStage::Unschedulable => Some(PodStage::Unschedulable),
            PodStage::Scheduled => Some(PodStage::Starting),
            PodStage::Starting => Some(PodStage::Ready),
            PodStage::Ready => Some(PodStage::Terminating),
            PodStage::Terminating => None,
        }
    }
}

/// The facts a synthetic pod is generated from.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticPod {
    /// Unique number of the pod in its workload generator; names and uids derive from it.
    pub index: u64,
    pub namespace: String,
    pub deployment: String,
    pub pool: &'static str,
    pub gpus: u32,
    pub stage: PodStage,
    pub resource_version: u64,
    /// Seconds after the base time at which the pod was created.
    pub created_offset_s: i64,
    /// Env vars `(name, value)` of the main container (values are what redaction hashes).
    pub env: Vec<(String, String)>,
}

impl SyntheticPod {
    pub fn new(index: u64, resource_version: u64) -> Self {
        let (pool, _) = POOLS[(index % POOLS.len() as u64) as usize];
        SyntheticPod {
            index,
            namespace: format!("team-{}", index % 4),
            deployment: format!("train-{pool}-{}", index % 7),
            pool,
            gpus: 1 + (index % 4) as u32,
            stage: PodStage::Created,
            resource_version,
            created_offset_s: (index / 10) as i64,
            env: vec![
                ("MODEL_NAME".into(), format!("llama-{}b", 7 + index % 3)),
                ("BATCH_SIZE".into(), (32 << (index % 3)).to_string()),
                ("WANDB_API_KEY".into(), format!("wk-{:016x}", index.wrapping_mul(0x2545_f491_4f6c_dd1d))),
            ],
        }
    }

    pub fn name(&self) -> String {
        format!("{}-{}-{}", self.deployment, self.template_hash(), suffix(self.index))
    }

    pub fn uid(&self) -> String {
        uuid_like(self.index, 0x504f_4400)
    }

    fn template_hash(&self) -> String {
        format!("{:x}", 0x5d8c_7f94 + (self.index % 7) * 0x1_0001)
    }

    fn node(&self) -> String {
        format!("kwok-{}-{}", self.pool, self.index % 2)
    }

    /// The pod as the API server serializes it.
    pub fn to_json(&self) -> Value {
        let name = self.name();
        let hash = self.template_hash();
        let replica_set = format!("{}-{hash}", self.deployment);
        let created = time(self.created_offset_s);
        let scheduled = time(self.created_offset_s + 1);
        let started = time(self.created_offset_s + 2);
        let ready = time(self.created_offset_s + 4);
        let stage = self.stage;
        let bound = matches!(stage, PodStage::Scheduled | PodStage::Starting | PodStage::Ready | PodStage::Terminating);
        let running = matches!(stage, PodStage::Starting | PodStage::Ready | PodStage::Terminating);
        let is_ready = matches!(stage, PodStage::Ready | PodStage::Terminating);
        let gpus = self.gpus.to_string();
        let env: Vec<Value> = self
            .env
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .chain([
                json!({"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}),
                json!({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-credentials", "key": "token"}}}),
            ])
            .collect();
        let mut metadata = json!({
            "name": name,
            "generateName": format!("{replica_set}-"),
            "namespace": self.namespace,
            "uid": self.uid(),
            "resourceVersion": self.resource_version.to_string(),
            "generation": 1,
            "creationTimestamp": created,
            "labels": {
                "app": self.deployment,
                "app.kubernetes.io/name": self.deployment,
                "app.kubernetes.io/part-of": "gpu-scheduling-lab",
                "pod-template-hash": hash,
                "team": self.namespace,
            },
            "annotations": {"kubectl.kubernetes.io/restartedAt": created},
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": replica_set,
                "uid": uuid_like(self.index % 7, 0x5253_0000),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
            "managedFields": managed_fields(&created, bound, running),
        });
        if stage == PodStage::Terminating {
            metadata["deletionTimestamp"] = json!(time(self.created_offset_s + 60));
            metadata["deletionGracePeriodSeconds"] = json!(30);
        }
        let mut spec = json!({
            "volumes": [{
                "name": format!("kube-api-access-{}", suffix(self.index + 11)),
                "projected": {"sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
                ], "defaultMode": 420}
            }, {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}}],
            "containers": [{
                "name": "trainer",
                "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                "command": ["/agnhost"],
                "args": ["pause"],
                "ports": [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}],
                "env": env,
                "resources": {
                    "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": gpus},
                    "requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": gpus}
                },
                "volumeMounts": [
                    {"name": "dshm", "mountPath": "/dev/shm"},
                    {"name": format!("kube-api-access-{}", suffix(self.index + 11)), "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
                ],
                "readinessProbe": {"httpGet": {"path": "/healthz", "port": 9090, "scheme": "HTTP"}, "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "nodeSelector": {"run.ai/simulated-gpu-node-pool": self.pool},
            "serviceAccountName": "default",
            "serviceAccount": "default",
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority"
        });
        if bound {
            spec["nodeName"] = json!(self.node());
        }
        let status = match stage {
            PodStage::Created => json!({"phase": "Pending", "qosClass": "Burstable"}),
            PodStage::Unschedulable => json!({
                "phase": "Pending",
                "conditions": [{
                    "type": "PodScheduled", "status": "False", "lastProbeTime": null, "lastTransitionTime": scheduled,
                    "reason": "Unschedulable",
                    "message": "0/7 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 5 Insufficient nvidia.com/gpu. preemption: 0/7 nodes are available: 2 Preemption is not helpful for scheduling, 5 No preemption victims found for incoming pod."
                }],
                "qosClass": "Burstable"
            }),
            _ => {
                let ip = format!("10.244.{}.{}", self.index % 200, self.index % 250 + 2);
                let state = if running {
                    json!({"running": {"startedAt": started}})
                } else {
                    json!({"waiting": {"reason": "ContainerCreating"}})
                };
                json!({
                    "phase": if running { "Running" } else { "Pending" },
                    "conditions": [
                        {"type": "PodReadyToStartContainers", "status": if running { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": started},
                        {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": scheduled},
                        {"type": "Ready", "status": if is_ready { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": ready},
                        {"type": "ContainersReady", "status": if is_ready { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": ready},
                        {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": scheduled}
                    ],
                    "hostIP": "172.18.0.3",
                    "hostIPs": [{"ip": "172.18.0.3"}],
                    "podIP": ip,
                    "podIPs": [{"ip": ip}],
                    "startTime": scheduled,
                    "containerStatuses": [{
                        "name": "trainer",
                        "state": state,
                        "lastState": {},
                        "ready": is_ready,
                        "restartCount": 0,
                        "image": "registry.k8s.io/e2e-test-images/agnhost:2.53",
                        "imageID": "registry.k8s.io/e2e-test-images/agnhost@sha256:99c6b4bb4a1e1df3f0b3752168c89358794d02258ebebc26bf21c29399011a85",
                        "containerID": format!("containerd://{:064x}", u128::from(self.index) * 0x9e37_79b9_7f4a_7c15),
                        "started": running,
                        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}]
                    }],
                    "qosClass": "Burstable"
                })
            }
        };
        json!({"kind": "Pod", "apiVersion": "v1", "metadata": metadata, "spec": spec, "status": status})
    }
}

fn managed_fields(created: &str, bound: bool, running: bool) -> Value {
    let mut fields = vec![json!({
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "v1",
        "time": created,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}, "f:team": {}},
                "f:ownerReferences": {".": {}, "k:{\"uid\":\"owner\"}": {}}},
            "f:spec": {"f:containers": {"k:{\"name\":\"trainer\"}": {".": {}, "f:args": {}, "f:command": {}, "f:env": {".": {},
                "k:{\"name\":\"MODEL_NAME\"}": {".": {}, "f:name": {}, "f:value": {}}, "k:{\"name\":\"BATCH_SIZE\"}": {".": {}, "f:name": {}, "f:value": {}}},
                "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {".": {}, "f:limits": {".": {}, "f:cpu": {}, "f:memory": {}, "f:nvidia.com/gpu": {}},
                "f:requests": {".": {}, "f:cpu": {}, "f:memory": {}, "f:nvidia.com/gpu": {}}}, "f:terminationMessagePath": {}, "f:terminationMessagePolicy": {}}},
                "f:dnsPolicy": {}, "f:enableServiceLinks": {}, "f:nodeSelector": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                "f:securityContext": {}, "f:terminationGracePeriodSeconds": {}, "f:tolerations": {}}
        }
    })];
    if bound {
        fields.push(json!({
            "manager": if running { "kwok" } else { "kube-scheduler" },
            "operation": "Update",
            "apiVersion": "v1",
            "time": created,
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:status": {"f:conditions": {"k:{\"type\":\"PodScheduled\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}},
                "k:{\"type\":\"Ready\"}": {".": {}, "f:lastProbeTime": {}, "f:lastTransitionTime": {}, "f:status": {}, "f:type": {}}},
                "f:containerStatuses": {}, "f:hostIP": {}, "f:hostIPs": {}, "f:phase": {}, "f:podIP": {}, "f:podIPs": {}, "f:startTime": {}}},
            "subresource": "status"
        }));
    }
    Value::Array(fields)
}

/// A synthetic GPU node of the lesson-1 fleet (`index` 0..5 are GPU nodes).
pub fn node(index: u64, resource_version: u64, kubelet_version: &str) -> Value {
    let (pool, gpus) = POOLS[(index % POOLS.len() as u64) as usize];
    let name = format!("kwok-{pool}-{}", index / POOLS.len() as u64);
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {
            "name": name, "uid": uuid_like(index, 0x4e4f_4445), "resourceVersion": resource_version.to_string(),
            "creationTimestamp": time(0),
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                       "type": "kwok", "run.ai/simulated-gpu-node-pool": pool, "nvidia.com/gpu.product": format!("NVIDIA-{}", pool.to_uppercase())},
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"}
        },
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {
            "capacity": {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": gpus.to_string()},
            "allocatable": {"cpu": "64", "memory": "512Gi", "pods": "110", "nvidia.com/gpu": gpus.to_string()},
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": time(resource_version as i64 % 3600),
                            "lastTransitionTime": time(1), "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "nodeInfo": {"kubeletVersion": kubelet_version, "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "", "kernelVersion": "", "osImage": "", "machineID": "", "systemUUID": "", "bootID": ""}
        }
    })
}

/// A synthetic core/v1 Event about `pod`.
pub fn event(pod: &SyntheticPod, resource_version: u64, reason: &str, message: &str) -> Value {
    let name = format!("{}.{:x}", pod.name(), 0x17d0_0000_0000u64 + resource_version);
    json!({
        "kind": "Event", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": pod.namespace, "uid": uuid_like(resource_version, 0x4556_0000),
                     "resourceVersion": resource_version.to_string(), "creationTimestamp": time(pod.created_offset_s + 1)},
        "involvedObject": {"kind": "Pod", "namespace": pod.namespace, "name": pod.name(), "uid": pod.uid(), "apiVersion": "v1",
                           "resourceVersion": pod.resource_version.to_string()},
        "reason": reason,
        "message": message,
        "source": {"component": "default-scheduler"},
        "firstTimestamp": null, "lastTimestamp": null,
        "eventTime": format!("2026-06-14T15:{:02}:{:02}.{:06}Z", 40 + (pod.created_offset_s / 60) % 20, pod.created_offset_s % 60, resource_version % 1_000_000),
        "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-kwok-control-plane",
        "action": "Scheduling", "type": if reason == "FailedScheduling" { "Warning" } else { "Normal" },
        "count": 1
    })
}

/// One generated change.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticChange {
    pub kind: Kind,
    pub op: Op,
    pub object: Value,
}

impl SyntheticChange {
    /// The object's JSON text with its members in the order the API server writes them
    /// (Go's field order: `apiVersion`, `kind`, `metadata` with `name` first and
    /// `managedFields` last, `spec`, `status`); `object.to_string()` would sort them.
    pub fn text(&self) -> String {
        in_order(&self.object, TOP_ORDER, |key| (key == "metadata").then_some(METADATA_ORDER))
    }
}

const TOP_ORDER: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const METADATA_ORDER: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// `value` as JSON text, the members of an object in `order` first and the others after
/// them; `inner` gives the order of a member's own members.
fn in_order(value: &Value, order: &[&str], inner: fn(&str) -> Option<&'static [&'static str]>) -> String {
    let Value::Object(map) = value else {
        return value.to_string();
    };
    let first = order.iter().copied().filter(|key| map.contains_key(*key));
    let rest = map.keys().map(String::as_str).filter(|key| !order.contains(key));
    let members: Vec<String> = first
        .chain(rest)
        .map(|key| {
            let text = match inner(key) {
                Some(order) => in_order(&map[key], order, |_| None),
                None => map[key].to_string(),
            };
            format!("{}:{text}", Value::from(key))
        })
        .collect();
    format!("{{{}}}", members.join(","))
}

/// A stream of changes of a cluster with a fixed number of live pods: pods are created,
/// go through their stages (one change each), get deleted and are replaced, with an Event
/// for every scheduling decision and a node heartbeat now and then. Memory is O(live pods).
#[derive(Debug, Clone)]
pub struct SyntheticCluster {
    live: Vec<SyntheticPod>,
    target_live: usize,
    next_index: u64,
    next_resource_version: u64,
    rng: Prng,
    events: bool,
    nodes: bool,
}

impl SyntheticCluster {
    /// A cluster that keeps `live_pods` pods alive, with Events and Node heartbeats.
    pub fn new(live_pods: usize, seed: u64) -> Self {
        SyntheticCluster {
            live: Vec::with_capacity(live_pods),
            target_live: live_pods.max(1),
            next_index: 0,
            next_resource_version: 1000,
            rng: Prng::new(seed),
            events: true,
            nodes: true,
        }
    }

    /// Only pod changes (for measuring the pod write path).
    pub fn pods_only(mut self) -> Self {
        self.events = false;
        self.nodes = false;
        self
    }

    pub fn live_pods(&self) -> usize {
        self.live.len()
    }

    fn resource_version(&mut self) -> u64 {
        self.next_resource_version += 1;
        self.next_resource_version
    }

    /// The next change.
    pub fn next_change(&mut self) -> SyntheticChange {
        if self.nodes && self.rng.below(200) == 0 {
            let rv = self.resource_version();
            let index = self.rng.below(5);
            return SyntheticChange { kind: Kind::Node, op: Op::Modified, object: node(index, rv, "kwok-v0.7.0") };
        }
        if self.live.len() < self.target_live {
            let rv = self.resource_version();
            let pod = SyntheticPod::new(self.next_index, rv);
            self.next_index += 1;
            let object = pod.to_json();
            self.live.push(pod);
            return SyntheticChange { kind: Kind::Pod, op: Op::Added, object };
        }
        let at = self.rng.below(self.live.len() as u64) as usize;
        let schedulable = self.rng.below(4) != 0;
        let rv = self.resource_version();
        let pod = &mut self.live[at];
        pod.resource_version = rv;
        match pod.stage.next(schedulable) {
            Some(stage) => {
                pod.stage = stage;
                let pod = pod.clone();
                if self.events
                    && matches!(stage, PodStage::Scheduled | PodStage::Unschedulable)
                    && self.rng.below(2) == 0
                {
                    let event_rv = self.resource_version();
                    let (reason, message) = if stage == PodStage::Scheduled {
                        (
                            "Scheduled",
                            format!("Successfully assigned {}/{} to {}", pod.namespace, pod.name(), pod.node()),
                        )
                    } else {
                        ("FailedScheduling", "0/7 nodes are available: 5 Insufficient nvidia.com/gpu.".to_string())
                    };
                    return SyntheticChange {
                        kind: Kind::Event,
                        op: Op::Added,
                        object: event(&pod, event_rv, reason, &message),
                    };
                }
                SyntheticChange { kind: Kind::Pod, op: Op::Modified, object: pod.to_json() }
            }
            None => {
                let pod = self.live.swap_remove(at);
                SyntheticChange { kind: Kind::Pod, op: Op::Deleted, object: pod.to_json() }
            }
        }
    }
}

fn time(offset_s: i64) -> String {
    chrono::DateTime::from_timestamp(BASE_TIME_S + offset_s, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn suffix(index: u64) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut value = index.wrapping_mul(0x2545_f491_4f6c_dd1d);
    (0..5)
        .map(|_| {
            let c = ALPHABET[(value % ALPHABET.len() as u64) as usize] as char;
            value /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

fn uuid_like(index: u64, salt: u64) -> String {
    let a = index ^ salt.rotate_left(17);
    let b = index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ salt;
    format!(
        "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
        a as u32,
        (b >> 48) as u16,
        (b >> 36) & 0xfff,
        (b >> 24) & 0xfff,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use evident_core::{Change, Facts};

    #[test]
    fn pods_look_like_what_the_api_server_returns() {
        let mut pod = SyntheticPod::new(5, 1234);
        pod.stage = PodStage::Ready;
        let object = pod.to_json();
        let raw = object.to_string();
        let facts = Facts::parse(&raw).unwrap();
        assert_eq!(facts.phase(), Some("Running"));
        assert_eq!(facts.pod_gpu_request(), Some(i64::from(pod.gpus)));
        assert_eq!(facts.pod_pool_selector(), Some(pod.pool));
        assert_eq!(facts.pod_workload(), Some(pod.deployment.as_str()));
        assert!(facts.condition_true_at("Ready").is_some());
        assert!((3_000..12_000).contains(&raw.len()), "raw pod is {} bytes", raw.len());
        let redactor = evident_core::redact::Redactor::from_key([0; evident_core::redact::KEY_BYTES]);
        let redacted = Change::from_json(0, 0, 1, Op::Modified, Kind::Pod, &raw, &redactor).unwrap();
        assert!(raw.contains("managedFields") && !redacted.json.contains("managedFields"));
        // The text path and the tree path redact alike.
        assert_eq!(redacted.object(), Change::new(0, 0, 1, Op::Modified, Kind::Pod, object, &redactor).object());
    }

    #[test]
    fn text_has_the_api_servers_member_order() {
        let mut cluster = SyntheticCluster::new(3, 1);
        for change in (0..50).map(|_| cluster.next_change()) {
            let text = change.text();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), change.object);
            assert!(text.starts_with(r#"{"apiVersion":"#) && text.contains(r#""kind":"#), "{text}");
            let metadata = &text[text.find(r#""metadata":{"name":"#).expect("name first")..];
            if let Some(managed) = metadata.find(r#""managedFields":"#) {
                let after = &metadata[managed..];
                assert!(!after.contains(r#""uid":"#) && !after.contains(r#""resourceVersion":"#), "{text}");
                assert!(metadata.find(r#""ownerReferences":"#).is_none_or(|owners| owners < managed));
            }
        }
    }

    #[test]
    fn the_stream_is_deterministic_and_keeps_uids_unique_per_resource_version() {
        let take = |seed| {
            let mut cluster = SyntheticCluster::new(50, seed);
            (0..2_000).map(|_| cluster.next_change()).collect::<Vec<_>>()
        };
        let first = take(7);
        assert_eq!(first, take(7));
        assert_ne!(first, take(8));
        let mut keys = std::collections::HashSet::new();
        for change in &first {
            let meta = &change.object["metadata"];
            let key = (change.kind, meta["uid"].to_string(), meta["resourceVersion"].to_string());
            assert!(keys.insert(key), "duplicate {change:?}");
        }
        assert!(first.iter().any(|c| c.kind == Kind::Event));
        assert!(first.iter().any(|c| c.op == Op::Deleted));
    }
}
