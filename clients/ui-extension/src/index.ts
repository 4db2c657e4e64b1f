// @appbackend/ui-extension: the UI-extension half of appbackend.
export { createBackend, RESTRICTED_KEY_PATH } from './backend.js';
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
  RestrictedKeyInfo,
  RestrictedKeyStatus,
  RoleDefinition,
  SaveRestrictedKeyOptions,
  WaitForJobOptions,
} from './types.js';
