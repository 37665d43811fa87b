//! SageMaker instance types as resource limits. A job asks for `ResourceConfig.InstanceType`
//! (`ProcessingResources.ClusterConfig.InstanceType`); on this machine the type's vCPUs and
//! memory become the job's limits: the process may run on that many CPUs (never more than
//! the machine has) and allocate that much memory (`RLIMIT_DATA`, per process: a worker it
//! forks has its own), and `SM_NUM_CPUS` says so. `local` (the default) is no limit. Types
//! not in the table are sized from their name (`ml.<family>.<size>`). GPU and accelerator
//! types are refused: the local executor has none.

/// One instance type: vCPUs, memory in GiB, GPUs.
struct InstanceType {
    name: &'static str,
    cpus: usize,
    memory_gib: u64,
    gpus: usize,
}

const fn it(name: &'static str, cpus: usize, memory_gib: u64, gpus: usize) -> InstanceType {
    InstanceType { name, cpus, memory_gib, gpus }
}

/// The training and processing types people use most, as AWS lists them.
const TYPES: &[InstanceType] = &[
    it("ml.t3.medium", 2, 4, 0),
    it("ml.t3.large", 2, 8, 0),
    it("ml.t3.xlarge", 4, 16, 0),
    it("ml.t3.2xlarge", 8, 32, 0),
    it("ml.m5.large", 2, 8, 0),
    it("ml.m5.xlarge", 4, 16, 0),
    it("ml.m5.2xlarge", 8, 32, 0),
    it("ml.m5.4xlarge", 16, 64, 0),
    it("ml.m5.12xlarge", 48, 192, 0),
    it("ml.m5.24xlarge", 96, 384, 0),
    it("ml.m4.xlarge", 4, 16, 0),
    it("ml.m4.2xlarge", 8, 32, 0),
    it("ml.m4.4xlarge", 16, 64, 0),
    it("ml.m4.10xlarge", 40, 160, 0),
    it("ml.m4.16xlarge", 64, 256, 0),
    it("ml.m6i.large", 2, 8, 0),
    it("ml.m6i.xlarge", 4, 16, 0),
    it("ml.m6i.2xlarge", 8, 32, 0),
    it("ml.m6i.4xlarge", 16, 64, 0),
    it("ml.c5.xlarge", 4, 8, 0),
    it("ml.c5.2xlarge", 8, 16, 0),
    it("ml.c5.4xlarge", 16, 32, 0),
    it("ml.c5.9xlarge", 36, 72, 0),
    it("ml.c5.18xlarge", 72, 144, 0),
    it("ml.r5.large", 2, 16, 0),
    it("ml.r5.xlarge", 4, 32, 0),
    it("ml.r5.2xlarge", 8, 64, 0),
    it("ml.r5.4xlarge", 16, 128, 0),
    it("ml.g4dn.xlarge", 4, 16, 1),
    it("ml.g4dn.2xlarge", 8, 32, 1),
    it("ml.g5.xlarge", 4, 16, 1),
    it("ml.g5.2xlarge", 8, 32, 1),
    it("ml.p3.2xlarge", 8, 61, 1),
    it("ml.p3.8xlarge", 32, 244, 4),
];

/// What a job may use; `None` is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub cpus: Option<usize>,
    pub memory_bytes: Option<u64>,
}

impl Limits {
    /// The limits of `instance_type` (`None` or `local`: none), or why it cannot run here.
    pub fn of(instance_type: Option<&str>) -> Result<Limits, String> {
        let Some(name) = instance_type.filter(|t| *t != "local") else { return Ok(Limits::default()) };
        let Some(found) = TYPES.iter().find(|t| t.name == name) else { return by_name(name) };
        if found.gpus > 0 {
            return Err(format!(
                "InstanceType {name} has {} GPU(s); the local executor has none (use a CPU type or local)",
                found.gpus
            ));
        }
        Ok(Limits { cpus: Some(found.cpus), memory_bytes: Some(found.memory_gib << 30) })
    }

    /// The CPUs the job gets on a machine with `available`.
    pub fn cpus_on(&self, available: usize) -> usize {
        self.cpus.map_or(available, |cpus| cpus.min(available)).max(1)
    }
}

/// A type not in the table, sized from its name: vCPUs from the size (`large` 2, `xlarge`
/// 4, `<n>xlarge` 4n), memory from the family's GiB per vCPU (c 2, m and t 4, r 8, x 16,
/// others 4).
fn by_name(name: &str) -> Result<Limits, String> {
    let unknown =
        || format!("InstanceType {name:?} is not an instance type (ml.<family>.<size>, e.g. ml.m5.large, or local)");
    let mut parts = name.split('.');
    let (Some("ml"), Some(family), Some(size), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(unknown());
    };
    if ["p", "g", "inf", "trn", "dl"].iter().any(|accelerated| family.starts_with(accelerated)) {
        return Err(format!(
            "InstanceType {name} has GPUs or accelerators; the local executor has none (use a CPU type or local)"
        ));
    }
    let cpus = match size {
        "medium" | "large" => 2,
        "xlarge" => 4,
        size => match size.strip_suffix("xlarge").map(str::parse::<usize>) {
            Some(Ok(n)) if (1..=64).contains(&n) => 4 * n,
            _ => return Err(unknown()),
        },
    };
    let per_cpu = match family.chars().next() {
        Some('c') => 2,
        Some('r') => 8,
        Some('x') => 16,
        _ => 4,
    };
    Ok(Limits { cpus: Some(cpus), memory_bytes: Some((cpus as u64 * per_cpu) << 30) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_types_become_limits() {
        assert_eq!(Limits::of(None).unwrap(), Limits::default());
        assert_eq!(Limits::of(Some("local")).unwrap(), Limits::default());
        let large = Limits::of(Some("ml.m5.large")).unwrap();
        assert_eq!(large, Limits { cpus: Some(2), memory_bytes: Some(8 << 30) });
        assert_eq!(large.cpus_on(1), 1, "never more CPUs than the machine has");
        assert_eq!(Limits::of(Some("ml.m5.4xlarge")).unwrap().cpus_on(64), 16);
        assert!(Limits::of(Some("ml.p3.2xlarge")).unwrap_err().contains("GPU"));
        // Sized from the name: c is 2 GiB per vCPU, r 8.
        assert_eq!(Limits::of(Some("ml.c6i.2xlarge")).unwrap(), Limits { cpus: Some(8), memory_bytes: Some(16 << 30) });
        assert_eq!(Limits::of(Some("ml.r6i.large")).unwrap(), Limits { cpus: Some(2), memory_bytes: Some(16 << 30) });
        assert!(Limits::of(Some("ml.g6.xlarge")).unwrap_err().contains("accelerators"));
        let unknown = Limits::of(Some("ml.m5.huge")).unwrap_err();
        assert!(unknown.contains("ml.m5.huge") && unknown.contains("ml.m5.large"), "{unknown}");
        assert!(Limits::of(Some("big")).is_err());
    }
}
