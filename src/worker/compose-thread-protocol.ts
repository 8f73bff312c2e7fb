import type { ComposeRequest, ComposeResult } from '../compose.js';

export interface ComposeThreadRequest {
  id: number;
  request: Omit<ComposeRequest, 'onProgress'>;
}

export type ComposeThreadMessage =
  | { id: number; type: 'progress'; fraction: number }
  | { id: number; type: 'done'; result: ComposeResult }
  | { id: number; type: 'error'; error: { name: string; message: string; code?: string; isUnknownStyle: boolean } };
