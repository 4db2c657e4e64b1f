// @appbackend/ui-extension: the UI-extension half of appbackend.
export { createBackend } from './backend.js';
export { BackendError, isBackendError } from './errors.js';
export type { BackendErrorCode, BackendErrorInit } from './errors.js';
export type {
  Backend,
  BackendContext,
  BackendOptions,
  FetchFunction,
  FetchInit,
  FetchResponse,
  FetchSignature,
  GetOptions,
  Installation,
  InstallationMode,
  JobError,
  JobId,
  JobState,
  JobStatus,
  JSONObject,
  JSONValue,
  PostOptions,
  RequestOptions,
  RoleDefinition,
  WaitForJobOptions,
} from './types.js';
