import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { findBinary } from '../../harness/binaries';
import { ConfigError, loadConfig, PLACEHOLDER_SECRETS } from '../../src/config';

/**
 * The Kubernetes manifests, checked offline as far as a machine without a cluster allows:
 * `kubectl kustomize` builds each overlay, every object it yields validates against the
 * Kubernetes API's schema (the OpenAPI schemas compiled into kubernetes-models, pinned in
 * package.json), and the properties a deploy depends on hold. Without kubectl the test fails
 * and says how to install it: it never passes without having built the overlays.
 */

const ROOT = path.join(__dirname, '..', '..', 'deploy', 'kubernetes');
const OVERLAYS = ['dev', 'prod'] as const;

/** Every kind the manifests may contain, each with the model that validates it. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/Job': Job,
  'networking.k8s.io/v1/Ingress': Ingress,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

// The objects are checked field by field below; a loose type keeps those reads short.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- manifests are read field by field */
type K8sObject = Record<string, any> & { apiVersion: string; kind: string };

function parseYaml(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null);
}

/** Throws with the object and the schema's complaint when `object` is not valid. */
function validate(object: K8sObject): void {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (!Model) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  try {
    new Model(object as never).validate();
  } catch (error) {
    throw new Error(`${object.kind}/${object.metadata?.name}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

const build = (overlay: string) =>
  parseYaml(
    execFileSync(findBinary('kubectl'), ['kustomize', path.join(ROOT, 'overlays', overlay)], {
      encoding: 'utf8',
    }),
  );

const one = (objects: K8sObject[], kind: string) => {
  const found = objects.filter((object) => object.kind === kind);
  expect(found).toHaveLength(1);
  return found[0]!;
};

const secretExample = parseYaml(readFileSync(path.join(ROOT, 'secret.example.yaml'), 'utf8'))[0]!;

describe.each(OVERLAYS)('the %s overlay', (overlay) => {
  let objects: K8sObject[];
  beforeAll(() => {
    objects = build(overlay);
  });

  it('builds with kubectl kustomize, every object valid against the Kubernetes API schema', () => {
    expect(objects.map((object) => object.kind).sort()).toEqual([
      'ConfigMap',
      'Deployment',
      'HorizontalPodAutoscaler',
      'Ingress',
      'Job',
      'NetworkPolicy',
      'PodDisruptionBudget',
      'Service',
    ]);
    for (const object of objects) validate(object);
    expect(new Set(objects.map((object) => object.metadata.namespace)).size).toBe(1);
  });

  it('starts the app on its settings, refuses the example secret, and shuts down within the grace period', () => {
    const settings = one(objects, 'ConfigMap').data as Record<string, string>;
    const secrets = secretExample.stringData as Record<string, string>;
    // The example secret is refused as it stands: it holds placeholders, not secrets.
    let refusal: unknown;
    try {
      loadConfig({ env: { ...settings, ...secrets }, envFile: false });
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(ConfigError);
    expect((refusal as ConfigError).problems).toEqual([
      expect.stringMatching(/^JWT_ACCESS_SECRET: is the placeholder/),
      expect.stringMatching(/^JWT_REFRESH_SECRET: is the placeholder/),
    ]);
    const { config } = loadConfig({
      env: {
        ...settings,
        ...secrets,
        JWT_ACCESS_SECRET: 'k8s-test-access-secret-0123456789-abcdefghijklmnop',
        JWT_REFRESH_SECRET: 'k8s-test-refresh-secret-0123456789-abcdefghijklmno',
        METRICS_TOKEN: 'k8s-test-metrics-token-0123456789',
      },
      envFile: false,
    });
    expect(config.isProduction).toBe(true);

    const deployment = one(objects, 'Deployment');
    const pod = deployment.spec.template.spec;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(config.shutdown.timeoutMs);
    expect(config.shutdown.drainDelayMs).toBeGreaterThan(0);

    const [container] = pod.containers;
    const http = container.ports.find((port: K8sObject) => port.name === 'http');
    expect(http.containerPort).toBe(config.port);
    expect(container.envFrom).toEqual([
      { configMapRef: { name: one(objects, 'ConfigMap').metadata.name } },
      { secretRef: { name: secretExample.metadata.name } },
    ]);
  });

  it('rolls out without losing capacity, probes as the README advises, and runs locked down', () => {
    const deployment = one(objects, 'Deployment');
    expect(deployment.spec.strategy).toMatchObject({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0 },
    });
    const pod = deployment.spec.template.spec;
    const [container] = pod.containers;
    expect(container.startupProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/health/ready', port: 'http' });
    expect(container.readinessProbe.periodSeconds).toBeLessThan(
      container.livenessProbe.periodSeconds,
    );
    expect(container.resources.requests).toEqual(
      expect.objectContaining({ cpu: expect.any(String), memory: expect.any(String) }),
    );
    expect(container.resources.limits.memory).toEqual(expect.any(String));
    expect(pod.topologySpreadConstraints.length).toBeGreaterThan(0);

    const job = one(objects, 'Job');
    for (const spec of [pod, job.spec.template.spec]) {
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true });
      expect(spec.automountServiceAccountToken).toBe(false);
      for (const each of spec.containers) {
        expect(each.securityContext).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
      }
    }
  });

  it('scales and is disrupted only within bounds, on the pods of the Deployment', () => {
    const podLabels = one(objects, 'Deployment').spec.template.metadata.labels;
    const hpa = one(objects, 'HorizontalPodAutoscaler');
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'api',
    });
    expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
    expect(podLabels).toMatchObject(one(objects, 'PodDisruptionBudget').spec.selector.matchLabels);
    expect(podLabels).toMatchObject(one(objects, 'Service').spec.selector);
    expect(podLabels).toMatchObject(one(objects, 'NetworkPolicy').spec.podSelector.matchLabels);
  });

  it('admits the port that serves metrics only from the ingress controller and monitoring, and routes only /api from outside', () => {
    const policy = one(objects, 'NetworkPolicy');
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const sources = policy.spec.ingress.map(
      (rule: K8sObject) =>
        rule.from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'],
    );
    expect(sources).toEqual(['ingress-nginx', 'monitoring']);
    for (const rule of policy.spec.ingress)
      expect(rule.ports).toEqual([{ port: 'http', protocol: 'TCP' }]);

    const ingress = one(objects, 'Ingress');
    expect(ingress.spec.ingressClassName).toBe('nginx');
    const paths = ingress.spec.rules.flatMap((rule: K8sObject) =>
      rule.http.paths.map((entry: K8sObject) => entry.path),
    );
    expect(paths).toEqual(['/api']);
    // One proxy (ingress-nginx) in front of the pods.
    expect(one(objects, 'ConfigMap').data.TRUST_PROXY).toBe('1');
  });

  it('migrates with a Job that goes straight to PostgreSQL and runs before the rollout', () => {
    const job = one(objects, 'Job');
    const [container] = job.spec.template.spec.containers;
    expect(container.args).toEqual(['node', 'dist/db/cli/migrate.js']);
    expect(container.image).toBe(one(objects, 'Deployment').spec.template.spec.containers[0].image);
    expect(container.env).toContainEqual({
      name: 'DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'api-secrets', key: 'DATABASE_MIGRATION_URL' } },
    });
    expect(job.metadata.annotations['argocd.argoproj.io/hook']).toBe('PreSync');
    expect(job.spec.template.spec.restartPolicy).toBe('Never');
  });
});

describe('the Kubernetes deploy files', () => {
  it('ship a secret example that holds no real secret and is never part of a build', () => {
    validate(secretExample);
    const values = Object.entries(secretExample.stringData as Record<string, string>);
    for (const [key, value] of values) {
      if (/SECRET$/.test(key)) expect(PLACEHOLDER_SECRETS).toContain(value);
      else if (/PASSWORD|TOKEN|URL/.test(key)) expect(value).toMatch(/CHANGE_ME/);
    }
    for (const overlay of OVERLAYS) {
      expect(build(overlay).filter((object) => object.kind === 'Secret')).toEqual([]);
    }
  });

  it('reject an invalid object: the schema check is not a formality', () => {
    const [deployment] = build('prod').filter((object) => object.kind === 'Deployment');
    deployment!.spec.template.spec.containers[0].ports[0].containerPort = '3001';
    expect(() => validate(deployment!)).toThrow(/containerPort must be integer/);
    expect(() => validate({ apiVersion: 'v1', kind: 'Pod' })).toThrow(/no schema for v1 Pod/);
  });

  it('deploy with a rollout script that ShellCheck passes', () => {
    execFileSync(findBinary('shellcheck'), [path.join(ROOT, 'rollout.sh')], { stdio: 'pipe' });
  });
});
