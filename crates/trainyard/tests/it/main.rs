//! End-to-end tests of the real `trainyard` binary: CLI exit codes and output, and
//! crash safety under kill -9, and the offline model runtime.

mod aws;
mod aws_acceptance;
mod aws_ecr;
mod build;
mod cli;
mod crash;
mod distribution;
mod endpoints;
mod evaluation;
mod examples;
mod hostile;
mod iam;
mod images;
mod jobs;
mod lambda;
mod models;
mod newcomer;
mod objects;
mod pipelines;
mod postgres;
mod process;
mod replicas;
mod runtime;
mod sources;
