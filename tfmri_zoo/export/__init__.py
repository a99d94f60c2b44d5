"""Export to TF-Serving: SavedModels with float32 and complex signatures, warm-up requests, REST/gRPC clients."""
from tfmri_zoo.export.client import (decode_grpc_response, decode_rest_response, grpc_request, rest_request,
                                     serving_inputs)
from tfmri_zoo.export.integrity import load_keras_model, verify_keras_file, verify_saved_model
from tfmri_zoo.export.serving import ServingModule, export_saved_model, graph_op_types, write_models_config

__all__ = ["ServingModule", "decode_grpc_response", "decode_rest_response", "export_saved_model", "graph_op_types",
           "grpc_request", "load_keras_model", "rest_request", "serving_inputs", "verify_keras_file",
           "verify_saved_model", "write_models_config"]
