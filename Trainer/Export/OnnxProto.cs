namespace Inspection.Trainer.Export;

/// <summary>
/// Field numbers and enum values of the ONNX protobuf messages the exporter writes (ModelProto, GraphProto, NodeProto,
/// AttributeProto, TensorProto, ValueInfoProto and the type/shape messages), as published in the ONNX IR specification.
/// </summary>
internal static class OnnxProto
{
    // IR version 8 (ONNX 1.10+) is read by every ONNX Runtime since 1.10.
    public const long IrVersion = 8;

    public static class Model
    {
        public const int IrVersion = 1, ProducerName = 2, ProducerVersion = 3, Graph = 7, OpsetImport = 8, MetadataProps = 14;
    }

    public static class OpsetId
    {
        public const int Domain = 1, Version = 2;
    }

    public static class Graph
    {
        public const int Node = 1, Name = 2, Initializer = 5, Input = 11, Output = 12;
    }

    public static class Node
    {
        public const int Input = 1, Output = 2, Name = 3, OpType = 4, Attribute = 5;
    }

    public static class Attribute
    {
        public const int Name = 1, F = 2, I = 3, Floats = 7, Ints = 8, Type = 20;
        public const int TypeFloat = 1, TypeInt = 2, TypeFloats = 6, TypeInts = 7;
    }

    public static class Tensor
    {
        public const int Dims = 1, DataType = 2, FloatData = 4, Name = 8, RawData = 9;
        public const int TypeFloat = 1, TypeUint8 = 2, TypeInt8 = 3, TypeInt32 = 6, TypeInt64 = 7;
    }

    public static class ValueInfo
    {
        public const int Name = 1, Type = 2;
    }

    public static class TypeProto
    {
        public const int TensorType = 1;
        public const int ElemType = 1, Shape = 2;
    }

    public static class Shape
    {
        public const int Dim = 1;
        public const int DimValue = 1, DimParam = 2;
    }

    public static class StringEntry
    {
        public const int Key = 1, Value = 2;
    }
}
